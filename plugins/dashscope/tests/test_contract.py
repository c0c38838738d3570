"""``type = "dashscope"`` runs the shared adapter contract against a fake DashScope."""

from sluicegate.testing.contract import ProviderContract
from sluicegate_dashscope.fake import DashScopeScript


class TestDashScopeContract(ProviderContract):
    script = DashScopeScript()
