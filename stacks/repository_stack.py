"""Repository stack: the CodeCommit repository the notebook instance clones."""

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from mysfits.project_files import PROJECT_ROOT
from stacks.config import MysfitsConfig
from stacks.constructs.seeded_repository import SeededRepository


class RepositoryStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: MysfitsConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        seeded = SeededRepository(self, "Source", repository_name=config.repository_name, source_root=PROJECT_ROOT)
        self.repository = seeded.repository

        CfnOutput(self, "RepositoryName", value=self.repository.repository_name)
        CfnOutput(self, "CloneUrlHttps", value=self.repository.repository_clone_url_http)
        CfnOutput(self, "CloneUrlSsh", value=self.repository.repository_clone_url_ssh)
        CfnOutput(
            self,
            "CloneUrlGrc",
            value=self.repository.repository_clone_url_grc,
            description="git clone with git-remote-codecommit (pip install git-remote-codecommit)",
        )
