"""Imports every capability's models so that Alembic and the tests see all tables."""

from peel.anpr import models as anpr_models  # noqa: F401
from peel.core import models as core_models  # noqa: F401
from peel.core import upload_models  # noqa: F401
from peel.evidence import models as evidence_models  # noqa: F401
from peel.fusion import models as fusion_models  # noqa: F401
from peel.reporting import models as reporting_models  # noqa: F401
