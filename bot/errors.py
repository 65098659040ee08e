"""The exception tree. Every expected failure has its own class; messages say what happened,
to which input, and what to do. Translation to HTTP/TwiML/SMTP happens only at the edges, and
`HTTP_STATUS` at the end of this module is the one table the HTTP edge uses (`http_status`)."""

from __future__ import annotations


class KontaktError(Exception):
    """Base class for every error kontakt raises on purpose."""


class SettingsError(KontaktError, ValueError):
    """A setting is missing or invalid; the message names the KONTAKT_* key and the fix."""


class TrainingDataError(KontaktError):
    """A training data file is malformed. The message names the file and the block."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}. See nlu_data/README.md for the format.")
        self.path = path
        self.problem = problem


class TopicContractError(KontaktError):
    """knowledge/topics.yaml is invalid or something refers to an unknown topic or queue."""


class ArticleError(KontaktError):
    """A knowledge article is malformed (front matter, unknown topic, missing field). `field`
    names the front-matter key at fault and `detail` its first problem, when known."""

    def __init__(self, path: object, problem: str, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(f"{path}: {problem}. See knowledge/README.md for the format.")
        self.path = path
        self.field = field
        self.detail = detail or problem


# --- knowledge editing (bot/knowledge/editing.py, bot/api/knowledge.py) -------------------------


class InvalidArticle(KontaktError, ValueError):
    """An edited article file would not load: the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class ArticleTooLarge(KontaktError, ValueError):
    """An edited article file is longer than an article may be."""


class ArticleMediaType(KontaktError, ValueError):
    """An article file was sent with a content type other than text/markdown or text/plain."""


class UnknownArticle(KontaktError, LookupError):
    """No article (or no such version of it) in the scope asked for."""


class ArticleVersionConflict(KontaktError):
    """Someone else published a version of the same article at the same moment; send it again."""


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


# --- connectors.email -----------------------------------------------------------------------


class MailTransportError(KontaktError):
    """Talking to a mail server failed. Subclasses say whether a retry can help."""


class SmtpUnavailable(MailTransportError):
    """The SMTP server could not be reached or failed temporarily (connection refused, timeout,
    dropped connection, 4xx reply). Nothing was accepted; keep the message and retry later."""


class SmtpRejected(MailTransportError):
    """The SMTP server refused the message permanently (5xx for sender, recipients or data).
    Retrying the same message will not help; show it to an agent."""


class ImapUnavailable(MailTransportError):
    """The IMAP server could not be reached, dropped the connection or refused a command.
    Nothing un-acked is lost: un-acked mail stays unseen and is fetched again on the next poll."""


class MailAuthFailed(MailTransportError):
    """The SMTP or IMAP server refused the configured user name or password. Fix the settings."""


class AutoReplySuppressed(KontaktError):
    """An auto-reply was requested for automatic mail (RFC 3834 loop guard). Send nothing."""


class NoReplyAddress(KontaktError, ValueError):
    """The inbound mail has no usable sender address, so no reply can be addressed."""


class MailPolicyError(KontaktError, ValueError):
    """A reply breaks the mail policy, e.g. an FAQ answer to an aktindsigt request or a complaint."""


# --- connectors.voice -------------------------------------------------------------------------


class VoiceConfigError(KontaktError, ValueError):
    """The voice connector's settings or prompts are invalid (bad number, unknown queue in the
    menu, a prompt missing in one language). The message names the key and what to write."""


class UnknownCall(KontaktError, LookupError):
    """A CallSid is not in the call store (e.g. the process restarted mid-call)."""


class NumberNotServed(KontaktError, LookupError):
    """A call reached a number that no tenant lists under `phone_numbers` in
    knowledge/tenants.yaml. Add the number to its municipality, or point it elsewhere in Twilio."""


# --- bot.storage and bot.engine -------------------------------------------------------------
# (UnknownContact above is also raised by the engine for a contact id not in the tenant.)


class StorageError(KontaktError):
    """Base class for persistence failures."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or dropped the connection; nothing was written.
    Retry later; check that the server at the (password-masked) URL in the message is up."""


class UnknownTenant(KontaktError, LookupError):
    """No tenant with this id; create it with ConversationEngine.ensure_tenant first."""


class UnknownAgent(KontaktError, LookupError):
    """No agent with this id in the tenant."""


class UnknownQueue(KontaktError, LookupError):
    """No queue with this id in the tenant (queue ids come from knowledge/topics.yaml)."""


class UnknownTask(KontaktError, LookupError):
    """No message/callback task with this id in the tenant."""


class UnknownOffer(KontaktError, LookupError):
    """No offer with this id in the tenant."""


class IllegalTransition(KontaktError):
    """A contact cannot take this step from its current state (the message names both)."""

    def __init__(self, state: object, event: object, contact_id: str | None = None) -> None:
        who = f"contact {contact_id!r}" if contact_id else "a contact"
        super().__init__(
            f"{who} in state {state!s} cannot take the step {event!s};"
            " see bot.engine.TRANSITIONS for the allowed steps"
        )
        self.state = state
        self.event = event
        self.contact_id = contact_id


class StaleOffer(KontaktError):
    """The offer has expired or was already accepted, declined or withdrawn."""


class NotAssignedAgent(KontaktError):
    """An agent acted on a contact that is not assigned to them."""


class InvalidTaskInput(KontaktError, ValueError):
    """A message or callback lacks a mandatory field (phone number, note)."""


class InvalidCallbackSlot(InvalidTaskInput):
    """The chosen callback time is not one of the bookable slots (passed, closed, or full)."""


class UnknownOutcome(KontaktError, ValueError):
    """An outcome code is not one of bot.storage.models.Outcome."""


class InvalidAgentLine(KontaktError, ValueError):
    """An agent's phone number or Twilio Client identity (where calls are put through) is invalid."""


class AgentExists(KontaktError):
    """An agent with this id already exists (agent ids are unique across tenants)."""


# --- agent API (bot.api.auth, bot.agent_accounts) ---------------------------------------------


class AgentAuthError(KontaktError):
    """Base class for failures of agent authentication and authorisation."""


class NotAuthenticated(AgentAuthError):
    """No bearer token, or a token that matches no agent. Paste a valid token (shown once when
    the agent was created with `python -m bot agent add`)."""


class RoleForbidden(AgentAuthError):
    """The agent's role may not call this endpoint (roles: agent < supervisor < admin)."""


class ContactForbidden(AgentAuthError):
    """The agent may not see this contact: it is neither offered nor assigned to them, nor
    waiting in one of their queues, nor one they have handled."""


class ArticleForbidden(AgentAuthError):
    """An editor asked for articles outside what the role may edit (another tenant's local
    articles, or national articles without the admin role)."""


class AuthNotConfigured(AgentAuthError):
    """No token pepper is configured. Set KONTAKT_AGENT_TOKEN_PEPPER to a random secret of at
    least 32 characters (e.g. `python -c "import secrets; print(secrets.token_urlsafe(48))"`)."""


class AgentBusy(KontaktError):
    """The agent still has contacts in progress, so they cannot log out; close or transfer them."""


# --- tenants and capacity planning (bot.tenants, bot.capacity, bot.api.capacity) --------------


class TenantConfigError(KontaktError):
    """knowledge/tenants.yaml is missing or invalid."""


class CapacityError(KontaktError, ValueError):
    """Base class for invalid capacity-planning input."""


class InvalidServiceTarget(CapacityError):
    """A service goal that is not "share/seconds", e.g. "80/20"."""


class UnreachableTarget(CapacityError):
    """No number of agents up to the search limit meets the service goal."""


class InvalidScenario(CapacityError):
    """A simulation scenario that cannot run (no agents, unknown queue, bad rates)."""


class NoHistory(CapacityError):
    """The database holds no contacts for the weeks a forecast would average."""


class InvalidParameter(CapacityError):
    """A query value that cannot be used; the message names it and says what to send."""


# --- bot.retention and bot.gdpr ---------------------------------------------------------------


class RetentionError(KontaktError, ValueError):
    """A retention setting is invalid (e.g. a period under one day). The message names the value."""


class CitizenQueryError(KontaktError, ValueError):
    """A GDPR export/deletion names no citizen (no e-mail, phone or CPR) or an unusable one."""


# --- conversations on the engine (bot.conversation, connectors) -------------------------------


class ConversationClosed(KontaktError):
    """A citizen wrote to a contact that is closed or abandoned; the channel starts a new one."""


class InvalidFeedback(KontaktError, ValueError):
    """A survey answer is outside its scale, or the scale itself is not [low, high]."""


class FeedbackNotStorable(KontaktError):
    """Feedback cannot be stored as an event: bot.storage.models.EventKind has no FEEDBACK kind."""


# --- the Rasa channels (connectors/rasa) ----------------------------------------------------------


class CallbackNotConfigured(KontaktError):
    """A message came to the Rasa callback webhook but KONTAKT_CALLBACK_URL is not set, so no
    answer could ever reach the citizen. Set it to the URL the bot's messages are POSTed to."""


class CallbackRefused(KontaktError):
    """The callback URL answered a delivery with a status other than 2xx; it is retried."""


class CallbackOutOfOrder(KontaktError):
    """An earlier message of the same conversation is not delivered yet; this one waits for it."""


# --- crisis mode (bot/crisis.py, bot/crisis_board.py) ----------------------------------------------


class CrisisError(KontaktError):
    """Crisis mode could not do what a supervisor asked."""


class InvalidCrisisMessage(CrisisError, ValueError):
    """The crisis message, its English version or a keyword is empty, too long or not plain text."""


class NoCrisis(CrisisError):
    """The action needs an active crisis for the tenant (start one first)."""


class NoCrisisQueue(CrisisError):
    """The active crisis has no crisis queue, so agents cannot join one (set a queue first)."""


class CrisisQueueInUse(CrisisError):
    """The crisis queue cannot change while agents have joined it through crisis mode."""


# --- the web chat (connectors.webchat) --------------------------------------------------------


class ChatError(KontaktError):
    """Base of the web chat's expected failures on a session; the routes answer with the web
    chat's own error codes and the status from `HTTP_STATUS`."""


class UnknownSession(ChatError, LookupError):
    """No open chat session with this id (never issued, expired, or closed meanwhile)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"No chat session {session_id[:12]}…; start a new conversation.")


class FeedbackAlreadyRecorded(ChatError):
    """The after-chat survey of this session was already answered."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Feedback for session {session_id[:12]}… was already recorded.")


class ChatNotNow(ChatError):
    """The request does not fit where the conversation is (e.g. asking for a callback while a
    person already has the chat). The message is Danish: the widget shows it to the citizen."""


class ChatMissingValue(ChatError, ValueError):
    """The request lacks a value it needs (e.g. a phone number to call back). The message is
    Danish: the widget shows it to the citizen."""


# --- at the HTTP edge -------------------------------------------------------------------------

# The one table from our errors to HTTP statuses (bot.api `error_body`, the agent routes, the
# web chat). First match wins, so a subclass comes before its base. Lookups are 404, conflicts
# with the current state 409, bad values 422, and 503 only when something we depend on is
# really unavailable; an error not listed is a fault of ours (500).
HTTP_STATUS: tuple[tuple[type[KontaktError], int], ...] = (
    (NotAuthenticated, 401),
    (RoleForbidden, 403),
    (ContactForbidden, 403),
    (ArticleForbidden, 403),
    (NotAssignedAgent, 403),
    (UnknownContact, 404),
    (UnknownAgent, 404),
    (UnknownOffer, 404),
    (UnknownQueue, 404),
    (UnknownTask, 404),
    (UnknownTenant, 404),
    (UnknownCall, 404),
    (NumberNotServed, 404),
    (UnknownSession, 404),
    (UnknownArticle, 404),
    (IllegalTransition, 409),
    (StaleOffer, 409),
    (AgentExists, 409),
    (AgentBusy, 409),
    (NoReplyAddress, 409),  # the contact has no address a reply can go to
    (ConversationClosed, 409),
    (FeedbackAlreadyRecorded, 409),
    (ChatNotNow, 409),
    (NoCrisis, 409),  # crisis mode: joining the crisis queue needs an active crisis
    (NoCrisisQueue, 409),
    (CrisisQueueInUse, 409),
    (ArticleVersionConflict, 409),
    (CallbackNotConfigured, 404),  # the Rasa callback webhook is not offered without its URL
    (UnknownOutcome, 422),
    (InvalidSkillLevel, 422),
    (InvalidTaskInput, 422),
    (CitizenQueryError, 422),
    (CapacityError, 422),
    (ChatMissingValue, 422),
    (InvalidCrisisMessage, 422),
    (InvalidFeedback, 422),
    (InvalidAgentLine, 422),
    (InvalidArticle, 422),
    (ArticleTooLarge, 413),
    (ArticleMediaType, 415),
    (AuthNotConfigured, 503),
    (DatabaseUnavailable, 503),
    (SmtpUnavailable, 503),
    (ImapUnavailable, 503),
    (ModelNotBuilt, 503),
)
FAULT_STATUS = 500


def http_status(exc: KontaktError) -> int:
    """The HTTP status for one of our errors (`HTTP_STATUS`; `FAULT_STATUS` when not listed)."""
    for cls, status in HTTP_STATUS:
        if isinstance(exc, cls):
            return status
    return FAULT_STATUS
