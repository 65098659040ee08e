"""Erlang C (M/M/n) and Erlang A (M/M/n+M, Palm's model with impatient callers).

Notation: λ arrivals per second, AHT mean handling time (talk + after-contact work) in
seconds, μ = 1/AHT, offered load A = λ·AHT in Erlang, n agents, t the service-goal threshold
(the 20 of "80/20"), θ = 1/mean patience.

Erlang C (no abandonment; needs n > A):
    Erlang B by recursion, B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))   (no factorials: stable)
    P(wait)  C = n·B / (n − A·(1 − B))
    SL(t)    = 1 − C·exp(−(n − A)·t / AHT)
    ASA      = C·AHT / (n − A)
    occupancy = A / n

Erlang A (stable for every n): the number in system is a birth–death chain with birth rate λ
and death rate min(k, n)·μ + max(k − n, 0)·θ, so
    π(k) ∝ A^k / k!                              for k ≤ n
    π(n + j) = π(n) · Π_{i=1..j} λ / (nμ + iθ)   for j ≥ 1
summed in log space and cut where the tail is below e^−50 of the largest term. By PASTA an
arrival sees π; one finding n + j (j ≥ 0 waiting ahead) is answered if its own patience outlasts
j + 1 departures from the front, each at rate nμ + iθ. With its own abandonment as a competing
exit at rate θ, the chance of being answered is nμ / (nμ + (j+1)θ) (the product telescopes), and
given that, the wait is a sum of Exp(nμ + kθ), k = 1..j+1, whose CDF is a regularised incomplete
beta function with an integer parameter:
    P(wait ≤ t | answered, j) = 1 − I_x(nμ/θ + 1, j + 1),  x = e^(−θt),
    I_x(a, m) = x^a · Σ_{k<m} (a)_k / k! · (1 − x)^k     (positive terms only: stable).
Then SL(t) = P(answered within t) over all offered (an abandoned call counts against the goal),
P(abandon) = θ·E[queue] / λ, ASA = mean wait of the answered = Σ_j π(n+j)·P(ans|j)·Σ_k 1/(nμ+kθ)
divided by P(answered), and occupancy = A·(1 − P(abandon)) / n. As θ → 0 this reduces to
Erlang C (tested).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from bot.capacity.errors import CapacityError, InvalidServiceTarget, UnreachableTarget

MAX_AGENTS = 100_000
_TAIL_LOG_CUTOFF = 50.0


class QueueModel(enum.StrEnum):
    ERLANG_C = "erlang_c"
    ERLANG_A = "erlang_a"


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """`share` of contacts answered within `seconds`: 80/20 is ServiceTarget(0.80, 20)."""

    share: float
    seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.share < 1 or not math.isfinite(self.seconds) or self.seconds < 0:
            raise InvalidServiceTarget(
                f"service target {self.share!r} within {self.seconds!r} s; use a share between 0 and 1"
                " (exclusive) and a threshold >= 0 seconds"
            )

    @classmethod
    def parse(cls, text: str) -> ServiceTarget:
        """'80/20' -> 80 % within 20 s."""
        percent, sep, seconds = text.partition("/")
        try:
            if not sep:
                raise ValueError(text)
            return cls(float(percent) / 100, float(seconds))
        except ValueError:
            raise InvalidServiceTarget(
                f"service target {text!r} is not 'percent/seconds'; write e.g. 80/20 for 80 % within 20 s"
            ) from None

    def __str__(self) -> str:
        return f"{self.share * 100:g}/{self.seconds:g}"


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What a queueing formula predicts for `agents` agents. Shares are fractions."""

    model: QueueModel
    agents: int
    offered_load: float  # Erlang
    p_wait: float
    service_level: float
    asa_seconds: float  # mean wait of answered contacts; inf when the queue grows without bound
    occupancy: float
    p_abandon: float = 0.0


def offered_load(arrivals_per_hour: float, aht_seconds: float) -> float:
    """A = λ·AHT in Erlang (1,662 calls/h at 91 s: 42.0)."""
    _check_positive("arrivals_per_hour", arrivals_per_hour, allow_zero=True)
    _check_positive("aht_seconds", aht_seconds)
    return arrivals_per_hour * aht_seconds / 3600.0


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability B(n, A) by the recursion in the module docstring."""
    _check_agents(agents)
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a contact waits (1.0 when n <= A: the queue grows without bound)."""
    _check_agents(agents)
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1 - b))


def erlang_c_figures(
    agents: int, arrivals_per_hour: float, aht_seconds: float, target_seconds: float
) -> QueueFigures:
    load = offered_load(arrivals_per_hour, aht_seconds)
    _check_agents(agents)
    if load <= 0:
        return QueueFigures(QueueModel.ERLANG_C, agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    p_wait = erlang_c(agents, load)
    if agents <= load:
        return QueueFigures(QueueModel.ERLANG_C, agents, load, 1.0, 0.0, math.inf, 1.0)
    service = 1 - p_wait * math.exp(-(agents - load) * target_seconds / aht_seconds)
    asa = p_wait * aht_seconds / (agents - load)
    return QueueFigures(QueueModel.ERLANG_C, agents, load, p_wait, service, asa, load / agents)


def erlang_a_figures(
    agents: int, arrivals_per_hour: float, aht_seconds: float, patience_seconds: float, target_seconds: float
) -> QueueFigures:
    """Erlang A for `agents` agents and callers of mean patience `patience_seconds`."""
    load = offered_load(arrivals_per_hour, aht_seconds)
    _check_agents(agents)
    _check_positive("patience_seconds", patience_seconds)
    if load <= 0:
        return QueueFigures(QueueModel.ERLANG_A, agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    if agents == 0:
        return QueueFigures(QueueModel.ERLANG_A, 0, load, 1.0, 0.0, math.inf, 0.0, p_abandon=1.0)
    lam, theta = arrivals_per_hour / 3600.0, 1.0 / patience_seconds
    n_mu = agents / aht_seconds
    log_free = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents)]  # π(k), k < n
    log_queue = [agents * math.log(load) - math.lgamma(agents + 1)]  # π(n + j), j = 0, 1, ...
    peak = max(log_free + log_queue)
    log_lam = math.log(arrivals_per_hour) - math.log(3600.0)  # in logs: lam / rate can underflow to 0
    j = 0
    while True:
        j += 1
        rate = n_mu + j * theta
        log_queue.append(log_queue[-1] + log_lam - math.log(rate))
        peak = max(peak, log_queue[-1])
        if lam < rate and log_queue[-1] < peak - _TAIL_LOG_CUTOFF:
            break
    norm = peak + math.log(sum(math.exp(v - peak) for v in log_free + log_queue))
    p_free = sum(math.exp(v - norm) for v in log_free)
    a = n_mu / theta + 1
    log_x = -theta * target_seconds
    log_one_minus_x = math.log(-math.expm1(log_x)) if log_x < 0 else -math.inf
    log_term = a * log_x  # log of the k = 0 term of I_x(a, m)
    incomplete_beta = 0.0
    answered = within = answered_wait = mean_queue = 0.0
    wait_if_answered = 0.0
    for j, log_pi in enumerate(log_queue):
        pi = math.exp(log_pi - norm)
        incomplete_beta += math.exp(log_term)  # I_x(a, j + 1)
        log_term += math.log((a + j) / (j + 1)) + log_one_minus_x
        p_answer = n_mu / (n_mu + (j + 1) * theta)
        wait_if_answered += 1.0 / (n_mu + (j + 1) * theta)
        answered += pi * p_answer
        within += pi * p_answer * max(0.0, 1.0 - incomplete_beta)
        answered_wait += pi * p_answer * wait_if_answered
        mean_queue += pi * j
    p_abandon = theta * mean_queue / lam
    answered_total = p_free + answered
    return QueueFigures(
        model=QueueModel.ERLANG_A,
        agents=agents,
        offered_load=load,
        p_wait=1.0 - p_free,
        service_level=p_free + within,
        asa_seconds=answered_wait / answered_total,
        occupancy=load * (1 - p_abandon) / agents,
        p_abandon=p_abandon,
    )


def queue_figures(
    agents: int,
    arrivals_per_hour: float,
    aht_seconds: float,
    target_seconds: float,
    patience_seconds: float | None = None,
) -> QueueFigures:
    """Erlang A when a mean patience is given, Erlang C otherwise."""
    if patience_seconds is None:
        return erlang_c_figures(agents, arrivals_per_hour, aht_seconds, target_seconds)
    return erlang_a_figures(agents, arrivals_per_hour, aht_seconds, patience_seconds, target_seconds)


def agents_for_target(
    arrivals_per_hour: float,
    aht_seconds: float,
    target: ServiceTarget,
    patience_seconds: float | None = None,
    *,
    max_agents: int = MAX_AGENTS,
) -> QueueFigures:
    """The fewest agents whose service level reaches `target` (and their figures).

    The service level rises with n, so the search walks up from a lower bound: Erlang C needs
    n > A; under Erlang A at most n·μ contacts an hour are answered, so SL <= n / A and n >= share·A.
    """
    load = offered_load(arrivals_per_hour, aht_seconds)
    if load <= 0:
        return queue_figures(0, arrivals_per_hour, aht_seconds, target.seconds, patience_seconds)
    start = math.floor(load) + 1 if patience_seconds is None else max(1, math.floor(target.share * load))
    for agents in range(start, max_agents + 1):
        figures = queue_figures(agents, arrivals_per_hour, aht_seconds, target.seconds, patience_seconds)
        if figures.service_level >= target.share:
            return figures
    raise UnreachableTarget(
        f"no staffing up to {max_agents} agents reaches {target} for {arrivals_per_hour:g} contacts/h at"
        f" {aht_seconds:g} s; check the figures or raise max_agents"
    )


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
        raise CapacityError(f"agents = {agents!r}; use a whole number >= 0")


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if (
        not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise CapacityError(f"{name} = {value!r}; use a finite number {'>=' if allow_zero else '>'} 0")
