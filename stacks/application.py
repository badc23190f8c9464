"""`build_app`: the one place the six stacks are composed, used by `app.py` and by the tests."""

from dataclasses import dataclass

from aws_cdk import App, Tags

from stacks.api_stack import ApiStack
from stacks.config import MysfitsConfig
from stacks.monitoring_stack import MonitoringStack
from stacks.notebook_stack import NotebookStack
from stacks.recommendations_stack import RecommendationsStack
from stacks.repository_stack import RepositoryStack
from stacks.website_stack import WebsiteStack

STACK_NAMES = (
    "MysfitsRepository",
    "MysfitsNotebook",
    "MysfitsRecommendations",
    "MysfitsApi",
    "MysfitsWebsite",
    "MysfitsMonitoring",
)


@dataclass(frozen=True)
class MysfitsStacks:
    repository: RepositoryStack | None
    notebook: NotebookStack
    recommendations: RecommendationsStack
    api: ApiStack
    website: WebsiteStack
    monitoring: MonitoringStack


def build_app(app: App, config: MysfitsConfig) -> MysfitsStacks:
    """Stacks are environment-agnostic (no lookups), so synthesis needs no account or credentials."""
    repository = (
        RepositoryStack(
            app,
            "MysfitsRepository",
            config=config,
            description="Mysfits recommendations: CodeCommit repository seeded with the service and notebook",
        )
        if config.create_repository
        else None
    )
    notebook = NotebookStack(
        app,
        "MysfitsNotebook",
        config=config,
        repository=repository.repository if repository else None,
        description="Mysfits recommendations: SageMaker notebook instance, its role and the ML artifacts bucket",
    )
    recommendations = RecommendationsStack(
        app,
        "MysfitsRecommendations",
        config=config,
        description="Mysfits recommendations: Lambda that asks the SageMaker k-NN endpoint for a Mysfit",
    )
    api = ApiStack(
        app,
        "MysfitsApi",
        config=config,
        function=recommendations.function,
        description="Mysfits recommendations: REST API POST /recommendations",
    )
    website = WebsiteStack(
        app,
        "MysfitsWebsite",
        config=config,
        api=api.api,
        description="Mysfits recommendations: website on S3 + CloudFront, API on the same origin",
    )
    monitoring = MonitoringStack(
        app,
        "MysfitsMonitoring",
        config=config,
        distribution=website.site.distribution,
        api=api.api,
        function=recommendations.function,
        description="Mysfits recommendations: dashboard, alarms and the encrypted SNS topic they publish to",
    )
    for stack in (repository, notebook, recommendations, api, website, monitoring):
        if stack is not None:
            Tags.of(stack).add("project", "mysfits-recommendations")
    return MysfitsStacks(repository, notebook, recommendations, api, website, monitoring)
