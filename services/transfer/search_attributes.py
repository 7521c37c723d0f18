"""Search attributes of transfer workflows, registered on the dev server by the launcher and tests."""

from temporalio.common import SearchAttributeKey

TRANSFER_STATUS = SearchAttributeKey.for_keyword("TransferStatus")
SENDING_BRANCH = SearchAttributeKey.for_keyword("SendingBranch")
RECEIVING_BRANCH = SearchAttributeKey.for_keyword("ReceivingBranch")
CURRENT_STAGE_ORG = SearchAttributeKey.for_keyword("CurrentStageOrg")

ALL = (TRANSFER_STATUS, SENDING_BRANCH, RECEIVING_BRANCH, CURRENT_STAGE_ORG)
