"""The dashboard and the alarms: what visitors get (API, Lambda, CloudFront, the model) and when to page someone.

cdk-monitoring-constructs draws the API, Lambda and CloudFront sections; the SageMaker endpoint and the handler's
own Embedded Metric Format metrics (`Mysfits/Recommendations`) are custom sections, since the library has no
monitor for either. Every alarm states its reason in its description and chooses how missing data counts.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from cdk_monitoring_constructs import (
    AlarmFactoryDefaults,
    CustomMetricGroup,
    CustomMetricSearch,
    CustomMetricWithAlarm,
    CustomThreshold,
    DashboardRenderingPreference,
    DefaultDashboardFactory,
    ErrorCountThreshold,
    ErrorRateThreshold,
    LatencyThreshold,
    MetricStatistic,
    MonitoringFacade,
    SnsAlarmActionStrategy,
)
from constructs import Construct

from mysfits.settings import API_STAGE_NAME

ALARM_NAME_PREFIX = "mysfits"
DASHBOARD_NAME = "mysfits-recommendations"
# CloudFront publishes its metrics in us-east-1 only, whatever region the distribution's stack is in.
CLOUDFRONT_METRICS_REGION = "us-east-1"
SAGEMAKER_VARIANT = "AllTraffic"  # the notebook deploys one production variant with SageMaker's default name
NOT_MISSING = cloudwatch.TreatMissingData.NOT_BREACHING
T = TypeVar("T")

# Reasons, written for a demo or workshop site: few visitors, in bursts, and nobody on call around the clock.
API_5XX_REASON = (
    "More than 5% of API requests answered 5XX in 2 of the last 3 five-minute periods. Visitors are getting "
    "errors instead of Mysfits; one failed request in a quiet period does not page. No traffic is not an error."
)
LAMBDA_ERRORS_REASON = (
    "The recommendation Lambda failed at least once in 5 minutes. Its handler answers every request with JSON "
    "and never raises, so an Errors datapoint is a crash, a timeout, an out-of-memory or a broken package."
)
NOT_DEPLOYED_REASON = (
    "Visitors were told the model is not deployed in 3 of the last 5 minutes: the SageMaker endpoint is missing "
    "or not InService. A deploy in progress takes about that long, so shorter gaps do not page."
)
P99_LATENCY_REASON = (
    "API p99 latency stayed above 3 s for 15 minutes. A warm answer takes tens of milliseconds and a Lambda cold "
    "start about one second; 3 s means the model or Lambda is persistently slow. Sparse periods are not judged."
)


def _alarm(threshold: Callable[..., T], reason: str, **limits: Any) -> T:
    """Every alarm says why in its description and treats missing data as not breaching: a quiet demo is not broken."""
    return threshold(**limits, alarm_description_override=reason, treat_missing_data_override=NOT_MISSING)


class ServiceMonitoring(Construct):
    """One dashboard for the whole request path; four alarms that publish to `alarm_topic`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        api: apigw.RestApi,
        distribution: cloudfront.IDistribution,
        endpoint_name: str,
        metrics_namespace: str,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboards = DefaultDashboardFactory(
            self,
            "Dashboards",
            dashboard_name_prefix=DASHBOARD_NAME,
            create_dashboard=True,
            create_summary_dashboard=False,
            create_alarm_dashboard=False,
            rendering_preference=DashboardRenderingPreference.INTERACTIVE_ONLY,
        )
        self.facade = MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=ALARM_NAME_PREFIX,
                action=SnsAlarmActionStrategy(on_alarm_topic=alarm_topic),
            ),
            dashboard_factory=self.dashboards,
        )
        self.facade.add_large_header("Mysfits recommendations")
        self._monitor_outcomes(metrics_namespace)
        self.facade.monitor_api_gateway(
            api=api,
            api_stage=API_STAGE_NAME,  # a constant, so the alarms need no cross-stack reference for it
            alarm_friendly_name="Api",
            human_readable_name="REST API POST /recommendations",
            add5_xx_fault_rate_alarm={
                "Critical": _alarm(
                    ErrorRateThreshold, API_5XX_REASON, max_error_rate=0.05, datapoints_to_alarm=2, evaluation_periods=3
                )
            },
            add_latency_p99_alarm={
                "Warning": _alarm(
                    LatencyThreshold,
                    P99_LATENCY_REASON,
                    max_latency=Duration.seconds(3),
                    datapoints_to_alarm=3,
                    evaluation_periods=3,
                    evaluate_low_sample_count_percentile=False,
                )
            },
        )
        self.facade.monitor_lambda_function(
            lambda_function=function,
            alarm_friendly_name="Function",
            human_readable_name="Recommendation Lambda",
            add_fault_count_alarm={
                "Critical": _alarm(
                    ErrorCountThreshold,
                    LAMBDA_ERRORS_REASON,
                    max_error_count=0,
                    datapoints_to_alarm=1,
                    evaluation_periods=1,
                )
            },
        )
        self._monitor_endpoint(endpoint_name)
        # No CloudFront alarm: alarms must live in the metrics' region (us-east-1) and this stack may be anywhere.
        self.facade.monitor_cloud_front_distribution(
            distribution=distribution,
            region=CLOUDFRONT_METRICS_REGION,
            additional_metrics_enabled=False,  # paid per distribution; the default metrics answer "is it up"
            alarm_friendly_name="Site",
            human_readable_name="Website (CloudFront, metrics from us-east-1)",
        )
        self.dashboard = self.dashboards.dashboard
        self.dashboard_url = (
            f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}#dashboards:name={DASHBOARD_NAME}"
        )

    def _monitor_outcomes(self, namespace: str) -> None:
        """The handler's EMF metrics: one Requests count per outcome and per recommended Mysfit, model latency."""
        not_deployed = cloudwatch.Metric(
            namespace=namespace,
            metric_name="Requests",
            dimensions_map={"outcome": "not_deployed"},
            statistic="Sum",
            period=Duration.minutes(1),
            label="not deployed",
        )

        def model_latency(statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name="ModelLatency",
                period=Duration.minutes(5),
                statistic=statistic,
                label=statistic,
            )

        self.facade.monitor_custom(
            alarm_friendly_name="Recommendations",
            human_readable_name="What visitors get (handler metrics, Mysfits/Recommendations)",
            metric_groups=[
                _requests_by("outcome", "Requests by outcome", namespace),
                CustomMetricGroup(
                    title="Model not deployed",
                    metrics=[
                        CustomMetricWithAlarm(
                            metric=not_deployed,
                            alarm_friendly_name="ModelNotDeployed",
                            add_alarm={
                                "Critical": CustomThreshold(
                                    threshold=1,
                                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                                    datapoints_to_alarm=3,
                                    evaluation_periods=5,
                                    alarm_description_override=NOT_DEPLOYED_REASON,
                                    treat_missing_data_override=NOT_MISSING,
                                )
                            },
                        )
                    ],
                ),
                _requests_by("mysfit", "Recommendations by Mysfit", namespace),
                CustomMetricGroup(
                    title="Model latency seen by the Lambda (ms)",
                    metrics=[
                        model_latency("p50"),
                        model_latency("p99"),
                    ],
                ),
            ],
        )

    def _monitor_endpoint(self, endpoint_name: str) -> None:
        """AWS/SageMaker's endpoint metrics; ModelLatency is in microseconds."""
        dimensions = {"EndpointName": endpoint_name, "VariantName": SAGEMAKER_VARIANT}

        def endpoint_metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=Duration.minutes(5),
                label=label,
            )

        self.facade.monitor_custom(
            alarm_friendly_name="Endpoint",
            human_readable_name=f"SageMaker endpoint {endpoint_name}",
            metric_groups=[
                CustomMetricGroup(
                    title="Invocations and errors",
                    metrics=[
                        endpoint_metric("Invocations", "Sum", "invocations"),
                        endpoint_metric("Invocation4XXErrors", "Sum", "4XX errors"),
                        endpoint_metric("Invocation5XXErrors", "Sum", "5XX errors"),
                    ],
                ),
                CustomMetricGroup(
                    title="Model latency (microseconds)",
                    metrics=[
                        endpoint_metric("ModelLatency", "p50", "p50"),
                        endpoint_metric("ModelLatency", "p99", "p99"),
                    ],
                ),
            ],
        )


def _requests_by(dimension: str, title: str, namespace: str) -> CustomMetricGroup:
    """Every value the handler has emitted for `dimension`, found by search: no list to keep in step with it."""
    search = CustomMetricSearch(
        namespace=namespace,
        search_query='MetricName="Requests"',
        dimensions_map={dimension: "*"},
        statistic=MetricStatistic.SUM,
        label=f"${{PROP('Dim.{dimension}')}}",
    )
    return CustomMetricGroup(title=title, metrics=[search])
