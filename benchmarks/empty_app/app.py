"""The synthesis floor: an empty CDK Python app, synthesized exactly as the project is (same CLI, same python)."""

import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
