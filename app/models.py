"""Every domain's models, imported in one place for Alembic and the tests."""

from app.accounts import models as accounts_models  # noqa: F401
from app.core import models as core_models  # noqa: F401
