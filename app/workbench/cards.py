"""Workbench cards per role. Each card says what the role does on the platform; later domains add
live counts (tenders to review, openings today, cases due)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _

from app.core.permissions import Role


@dataclass(frozen=True)
class Card:
    title: str
    body: str
    url: str | None = None
    link_label: str | None = None


def cards_for(principal: Any) -> list[Card]:
    role = principal.role
    account = Card(
        _("My account"),
        _("Password, two-factor sign-in, sessions and API tokens."),
        url_for("accounts.profile"),
        _("Open"),
    )
    by_role: dict[Role, list[Card]] = {
        Role.BIDDER: [
            Card(
                _("Tenders"),
                _("Find tenders, obtain documents, seal and submit bids on your own machine."),
                url_for("projects.tenders"),
                _("Open"),
            ),
            Card(
                _("Openings"),
                _("Attend online bid openings and confirm the opening record."),
                url_for("bidding.tenders"),
                _("Open"),
            ),
            Card(
                _("Objections and complaints"),
                _("Raise objections and file complaints on statutory clocks."),
                url_for("complaints.mine"),
                _("Open"),
            ),
        ],
        Role.TENDERER: [
            Card(
                _("Projects"),
                _("Register projects, draft sections and publish tender announcements."),
                url_for("projects.index"),
                _("Open"),
            ),
            Card(
                _("Opening key share"),
                _("Hold one share of each section's opening key."),
                url_for("bidding.custodian"),
                _("Open"),
            ),
            Card(
                _("Results"),
                _(
                    "Name your representatives to the evaluation panel, receive evaluation reports, publish "
                    "candidates or the procurement result announcement, and issue awards."
                ),
                url_for("evaluation.manage_list"),
                _("Open"),
            ),
            Card(
                _("Panel seats"),
                _(
                    "Sit as the tenderer's representative on a panel you are named to: sign in, declare, "
                    "score."
                ),
                url_for("evaluation.mine"),
                _("Open"),
            ),
        ],
        Role.CENTER_STAFF: [
            Card(
                _("Registrations"),
                _("Review project registrations and book opening rooms."),
                url_for("projects.review_queue"),
                _("Open"),
            ),
            Card(
                _("Openings"),
                _("Run online bid openings with the key custodians."),
                url_for("bidding.openings"),
                _("Open"),
            ),
            Card(
                _("Expert draws"),
                _("Request verifiable random expert draws."),
                url_for("experts.draw_room"),
                _("Open"),
            ),
        ],
        Role.MANAGER: [
            Card(
                _("Staff assessment"),
                _("Cases, openings and registrations handled per staff member and department."),
                url_for("supervision.assessment_page"),
                _("Open"),
            ),
            Card(
                _("Trading catalogue"),
                _("Maintain the trading catalogue and the holiday calendar."),
                url_for("projects.catalogue"),
                _("Open"),
            ),
            Card(
                _("Expert pool"),
                _("Admit, discipline and rate pool experts."),
                url_for("experts.pool"),
                _("Open"),
            ),
            Card(
                _("Reports"),
                _("Forward, assign and supervise reports."),
                url_for("complaints.board"),
                _("Open"),
            ),
            Card(
                _("Audit log"), _("Read the tamper-evident audit log."), url_for("audit.log_page"), _("Open")
            ),
        ],
        Role.REGULATOR: [
            Card(
                _("Live supervision"),
                _("Watch openings, draws and evaluations as they happen."),
                url_for("supervision.dashboard"),
                _("Open"),
            ),
            Card(
                _("Complaints"),
                _("Accept and decide complaints in your industry."),
                url_for("complaints.desk"),
                _("Open"),
            ),
            Card(
                _("Audit log"), _("Verify that no record was altered."), url_for("audit.log_page"), _("Open")
            ),
        ],
        Role.EXPERT: [
            Card(
                _("Invitations"),
                _("Confirm or decline evaluation invitations."),
                url_for("experts.me"),
                _("Open"),
            ),
            Card(
                _("Profile and leave"),
                _("Keep your contact details and leave calendar current."),
                url_for("experts.me"),
                _("Open"),
            ),
            Card(
                _("My evaluations"),
                _("Sign in, declare conflicts, read the bids and score them; sign the report."),
                url_for("evaluation.mine"),
                _("Open"),
            ),
        ],
        Role.SYSADMIN: [
            Card(
                _("Organizations"),
                _("Create organizations of each kind."),
                url_for("admin.organizations"),
                _("Open"),
            ),
            Card(
                _("Accounts"),
                _("Create accounts with one role, disable them, reset sign-in."),
                url_for("admin.users"),
                _("Open"),
            ),
        ],
    }
    cards = [*by_role[role], account]
    if role is Role.SYSADMIN and current_app.config.get("DEMO_CLOCK"):
        cards.append(
            Card(
                _("Demo clock"),
                _("Move platform time forward in this demo."),
                url_for("admin.demo_clock"),
                _("Open"),
            )
        )
    return cards
