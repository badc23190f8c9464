"""Mythical Mysfits recommendations, the Python side: `ml` (the notebook's k-NN library), `standins` (AWS run
locally), `cli` (`python -m mysfits ...`), and the CDK-free `settings` and `project_files` the stacks share."""
