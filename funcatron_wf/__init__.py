"""funcatron-wf: serverless on your own cluster, built on Temporal.

The public API for Func authors and operators is re-exported here; the parts
live in ``funcatron_wf.engine``, ``funcatron_wf.workers``, ``funcatron_wf.sources``,
``funcatron_wf.chains`` and ``funcatron_wf.deploy``.
"""

from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.responses import HTTPError, Response, forward

__all__ = ["FuncatronError", "HTTPError", "Response", "__version__", "forward"]

__version__ = "0.1.0"
