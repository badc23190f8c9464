"""Local stand-ins for AWS: the SageMaker endpoint, API Gateway + Lambda, and the server that runs them."""
