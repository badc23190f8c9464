"""The k-NN library the notebook imports: synthetic data, lattice training, the model file, SageMaker jobs."""
