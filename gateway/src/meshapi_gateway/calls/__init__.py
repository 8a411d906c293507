"""The policy of one data-plane call, for every endpoint: plan, admission before, metering after.

Routes read, authenticate, make a ``Call`` and hand it down; endpoints' domain code runs
the call through the router. Extension points (see docs/architecture.md, The call layer):
``GatewayState.admission_checks`` (``calls/admission.py``) and ``GatewayState.call_observers``
(``calls/record.py``).
"""

from meshapi_gateway.calls.admission import AdmissionCheck
from meshapi_gateway.calls.call import Call, report_replay
from meshapi_gateway.calls.plan import Plan, answer_headers, plan
from meshapi_gateway.calls.record import CallObserver, CallRecord

__all__ = ["AdmissionCheck", "Call", "CallObserver", "CallRecord", "Plan", "answer_headers", "plan", "report_replay"]
