"""One account = one role in one organization whose kind fits the role (service and database)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.accounts import services
from app.accounts.models import User
from app.core.errors import DomainError
from app.core.permissions import ROLE_ORG_KINDS, ROLE_PERMISSIONS, OrgKind, Permission, Role
from tests.factories import PASSWORD, make_org, make_user


@pytest.mark.parametrize("role", [Role.REGULATOR, Role.CENTER_STAFF, Role.MANAGER, Role.SYSADMIN])
def test_supervision_roles_cannot_be_created_in_a_bidder_org(db_session, role):
    bidder_org = make_org(OrgKind.BIDDER)
    with pytest.raises(DomainError) as err:
        services.create_user(
            username=f"x-{role.value}",
            display_name="X",
            organization=bidder_org,
            role=role,
            password=PASSWORD,
            actor=None,
        )
    assert "role" in err.value.errors


def test_every_role_fits_only_its_org_kinds(db_session):
    for role in Role:
        for kind in OrgKind:
            org = make_org(kind)
            allowed = kind in ROLE_ORG_KINDS[role]
            if allowed:
                assert make_user(role, org).org_id == org.id
            else:
                with pytest.raises(DomainError):
                    make_user(role, org)


def test_database_refuses_a_role_that_does_not_fit(db_session):
    """Even bypassing the service, the CHECK constraint refuses a regulator in a bidder organization."""
    user = make_user(Role.BIDDER)
    db_session.flush()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("UPDATE user_account SET role = 'regulator' WHERE id = :id"), {"id": user.id})


def test_database_refuses_org_kind_that_disagrees_with_the_organization(db_session):
    """The composite foreign key ties the copied org_kind to the organization's real kind."""
    user = make_user(Role.BIDDER)
    db_session.flush()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(
            text("UPDATE user_account SET role = 'regulator', org_kind = 'regulator' WHERE id = :id"),
            {"id": user.id},
        )


def test_an_account_cannot_receive_a_second_role(db_session):
    """There is one role column per account and user names are unique: a second grant is a second
    account request, which the service refuses for the same name."""
    user = make_user(Role.TENDERER, username="li.hua")
    with pytest.raises(DomainError):
        make_user(Role.BIDDER, username="li.hua")
    assert db_session.get(User, user.id).role == "tenderer"


def test_sysadmin_has_no_business_permission():
    business = {p for p in Permission if not p.value.startswith(("admin:", "account:", "workbench:"))}
    assert not (ROLE_PERMISSIONS[Role.SYSADMIN] & business)
    assert Permission.ADMIN_USERS in ROLE_PERMISSIONS[Role.SYSADMIN]


def test_regulator_needs_an_industry(db_session):
    with pytest.raises(DomainError):
        services.create_organization("某监督局", OrgKind.REGULATOR, actor=None)
    with pytest.raises(DomainError):
        services.create_organization("某公司", OrgKind.BIDDER, actor=None, industry="transport")


def test_organization_and_user_creation_are_audited(db_session):
    from app.core.models import AuditLeaf

    org = make_org(OrgKind.BIDDER)
    user = make_user(Role.BIDDER, org)
    actions = {
        (leaf.action, leaf.object_id)
        for leaf in db_session.query(AuditLeaf).filter(AuditLeaf.action.like("admin:%")).all()
    }
    assert ("admin:organization:create", str(org.id)) in actions
    assert ("admin:user:create", str(user.id)) in actions
