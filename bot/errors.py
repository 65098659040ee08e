"""The exception tree. Every expected failure has its own class; messages say what happened,
to which input, and what to do. Translation to HTTP/TwiML/SMTP happens only at the edges."""

from __future__ import annotations


class KontaktError(Exception):
    """Base class for every error kontakt raises on purpose."""


class TrainingDataError(KontaktError):
    """A training data file is malformed. The message names the file and the block."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}. See nlu_data/README.md for the format.")
        self.path = path
        self.problem = problem


class TopicContractError(KontaktError):
    """knowledge/topics.yaml is invalid or something refers to an unknown topic or queue."""


class ArticleError(KontaktError):
    """A knowledge article is malformed (front matter, unknown topic, missing field)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}. See knowledge/README.md for the format.")
        self.path = path


class ModelNotBuilt(KontaktError):
    """No trained model is found where settings point. Run `python -m bot train`."""


class IndexMismatch(KontaktError):
    """The persisted index was built with another embedder or other content than requested."""


class UnknownEmbedder(KontaktError):
    """Settings name an embedder that is not in the registry."""


class MissingExtra(KontaktError):
    """An optional dependency is needed; the message names the pip extra to install."""


# --- bot.routing.calendar -------------------------------------------------------------------


class ScheduleError(KontaktError, ValueError):
    """An opening-hours schedule is invalid. The message names the weekday, date or period."""


class InvalidPeriod(ScheduleError):
    """A period is not "HH:MM-HH:MM", or it ends at or before its start."""


class OverlappingPeriods(ScheduleError):
    """Two periods of the same day overlap (touching, like 12:00 and 12:00, is fine)."""


class UnknownWeekday(ScheduleError):
    """A schedule mapping has a key that is neither a weekday (mon..sun) nor a known option."""


class InvalidScheduleDate(ScheduleError):
    """A closed or special date is neither "YYYY-MM-DD" (one day) nor "MM-DD" (every year)."""


class ConflictingDateRules(ScheduleError):
    """The same date is both closed and given special hours."""


class NaiveDatetime(KontaktError, ValueError):
    """A datetime without tzinfo was passed where an instant is needed."""


class NeverOpen(KontaktError):
    """A schedule has no opening period within the search horizon, so no deadline exists."""


# --- bot.routing.skills ---------------------------------------------------------------------


class RoutingError(KontaktError, ValueError):
    """A routing snapshot or policy is invalid (bad skill level, duplicate id, bad count)."""


class InvalidSkillLevel(RoutingError):
    """A skill level is outside 0..9."""


class InvalidRoutingPolicy(RoutingError):
    """A routing policy value is out of range (concurrency, thresholds, channel order)."""


class DuplicateRoutingId(RoutingError):
    """Two contacts or two agents in one snapshot share an id."""


class UnknownContact(KontaktError, LookupError):
    """A contact id is not waiting in the snapshot."""


class NoStaffedAgents(KontaktError):
    """No logged-in agent has a skill for the queue, so no wait can be estimated."""
