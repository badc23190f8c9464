"""The Mysfits recommendations CDK app: five stacks composed by `build_app`."""
