"""Every domain's models, imported in one place for Alembic and the tests."""

from app.accounts import models as accounts_models  # noqa: F401
from app.bidding import models as bidding_models  # noqa: F401
from app.bidding.security import models as bidding_security_models  # noqa: F401
from app.bidding.validity import models as bidding_validity_models  # noqa: F401
from app.complaints import models as complaints_models  # noqa: F401
from app.contracts import models as contracts_models  # noqa: F401
from app.core import models as core_models  # noqa: F401
from app.evaluation import models as evaluation_models  # noqa: F401
from app.exchange import models as exchange_models  # noqa: F401
from app.experts import models as experts_models  # noqa: F401
from app.portal import models as portal_models  # noqa: F401
from app.projects import models as projects_models  # noqa: F401
from app.projects.prequal import models as prequal_models  # noqa: F401
from app.supervision import models as supervision_models  # noqa: F401
