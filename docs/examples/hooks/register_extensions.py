"""An extension owning ``[status_counts]``: counts finished requests by HTTP status. Its handler
runs on the request path, so it only adds to a dict."""

from collections import Counter

from attrs import define

from sluicegate import hookimpl
from sluicegate.plugin_options import FeatureOptions


@define(kw_only=True)
class StatusCountsOptions(FeatureOptions):
    pass


class StatusCounts:
    def __init__(self):
        self.counts: Counter[int] = Counter()

    def request_finished(self, record):
        self.counts[record.status] += 1


@hookimpl
def register_extensions(register):
    register("status_counts", lambda options, services: StatusCounts(), options=StatusCountsOptions)
