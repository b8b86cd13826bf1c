"""How far a group of votes moves a Bradley-Terry board, judged without the group's own votes, and bounded.

A filter that tests a voter against ratings fitted *with* that voter's votes lets an attack set its own
expectation, and a filter with a fixed effect floor (a 95% share) lets any patient attack below the floor through
however many votes it casts. Here a group (a voter, a network, the young identities of a network) is judged by
how far its votes move the board away from where the other votes put it, standardised by how far votes like the
others' would move it by chance. The test's power grows with the group's volume, and it sees votes that never
touch the model they help (omnipresent rigging lifts a model by beating the models around it).

The influence of group G, per model: with theta_-G the penalised fit of the other votes and H the information of
all the votes there (prior included),

    delta_G = H^+ g_G(theta_-G),

one Newton step from the others' fit toward all the votes, g_G the gradient of G's own log-likelihood. It is a
sum over G's votes of (y - p) u_ab, u_ab = H^+ (e_a - e_b), p from theta_-G. If G votes like the others, each
term has mean 0, variance at most p (1 - p) u_ab^2 and lies within max(p, 1 - p) |u_ab| of its mean, so
Bernstein's inequality bounds the chance of |delta_G[m]| with no normal approximation. A group is flagged when
that bound, for some model, falls below alpha / (2 x groups tested x models) (Bonferroni, both directions); a
group is tested once it has `min_votes` votes, and only against at least `DEFAULT_MIN_REFERENCE` other votes.

A flagged group's influence is then bounded: its votes that push hardest in the flagged direction are set aside,
one at a time, until every model's |delta_G| is within `cap_z` standard deviations of chance. Setting whole
votes aside is the down-weighting: what is left of the group moves the board no more than votes like the
others' would, and every board, interval and export keeps counting whole votes.

theta_-G: for a group holding a small share of the votes, theta - H^+ g_G(theta) (one Newton step back from the
fit of all votes); a group holding more than `exact_share` gets an exact refit. A flagged group is judged afresh
after each trim (an exact refit), since with fewer of its votes in the fit each of the rest moves the board more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ratings import bradley_terry as bt
from ratings.voter_quality import bernstein_tail

DEFAULT_ALPHA = 0.01
# A flagged group keeps votes until its influence on every model is within this many standard deviations of
# chance, or within `DEFAULT_CAP_SE` of that model's standard error on the board, whichever is larger.
DEFAULT_CAP_Z = 0.5
DEFAULT_CAP_SE = 1.0
# Groups with fewer counted votes than this are not tested on their own (their network or cohort still is).
DEFAULT_MIN_VOTES = 10
# A group is judged only against at least this many other votes: a board that is all one network (a lab study
# behind one address) has no one else to compare it with.
DEFAULT_MIN_REFERENCE = 100
# Groups holding more than this share of the votes get an exact leave-group-out refit.
DEFAULT_EXACT_SHARE = 0.02
# Rounds of refit-then-judge: setting votes aside moves the board, which can unmask another group.
DEFAULT_ROUNDS = 4
# Groups bounded one at a time per family and round, at most this many (each is followed by a refit).
DEFAULT_MAX_GROUPS = 50
# Groups whose per-vote bounds are formed at once (a block of their entries x models).
_CHUNK_GROUPS = 256


@dataclass(frozen=True)
class GroupedVotes:
    """Counted votes as rows (one per voter, network, cell): models, score y (1 when a wins, 0 when b wins, 1/2
    for a tie) and count. Rows with count 0 for the fit (both_bad dropped) carry `fit` False."""

    n_models: int
    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    count: np.ndarray
    fit: np.ndarray
    # Who cast each row (an index, -1 for no one): within a group, the votes of its most one-sided members are
    # set aside first, so honest pupils behind a school's address keep theirs when a script shares it.
    voter: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.count)
        if not (len(self.model_a) == len(self.model_b) == len(self.score) == len(self.fit) == n):
            raise ValueError("model_a, model_b, score, count and fit must have the same length")
        if self.voter is not None and len(self.voter) != n:
            raise ValueError("voter must give one index per row")


@dataclass(frozen=True)
class GroupFamily:
    """A partition of (some of) the rows into groups: `group[row]` in 0..n_groups-1, or -1 for none."""

    name: str
    group: np.ndarray
    n_groups: int


@dataclass
class Verdict:
    """One flagged group: the figures it was decided on and how many of its votes were set aside."""

    family: str
    group: int
    model: int  # the model it moved most, in standard deviations of chance
    votes: float
    z: float
    shift: float  # that model's shift, in rating points, before any vote was set aside
    p_bound: float
    set_aside: float = 0.0


@dataclass
class InfluenceResult:
    """Per row, votes to set aside; the flagged groups; and each family's number of tests."""

    removed: np.ndarray
    verdicts: list[Verdict] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    # Per family, the group that moved a model furthest (in rating points), when first judged and when last
    # judged (after every bound): what the recompute reports as measured, flagged or not.
    largest_before: dict[str, Largest] = field(default_factory=dict)
    largest_after: dict[str, Largest] = field(default_factory=dict)


@dataclass(frozen=True)
class Largest:
    group: int
    model: int
    shift: float
    z: float


def win_matrix(votes: GroupedVotes, weight: np.ndarray) -> np.ndarray:
    n = votes.n_models
    w = np.zeros((n, n))
    use = weight * votes.fit
    np.add.at(w, (votes.model_a, votes.model_b), use * votes.score)
    np.add.at(w, (votes.model_b, votes.model_a), use * (1.0 - votes.score))
    return w


def information(theta: np.ndarray, battles: np.ndarray, alpha: float) -> np.ndarray:
    """The penalised log-likelihood's negative Hessian: battles[i, j] = B[j, i] battles between i and j (the
    alpha virtual ties of the prior added here)."""
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    weight = (battles + alpha) * p * (1.0 - p)
    np.fill_diagonal(weight, 0.0)
    return np.diag(weight.sum(axis=1)) - weight


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Board:
    """The fit of the votes that remain, and what every group's judgement shares."""

    def __init__(self, votes: GroupedVotes, remaining: np.ndarray, alpha: float, theta0: np.ndarray | None):
        self.votes, self.remaining, self.alpha = votes, remaining, alpha
        self.wins = win_matrix(votes, remaining)
        self.theta = bt.fit(self.wins, alpha=alpha, initial=theta0)
        self.hessian = information(self.theta, self.wins + self.wins.T, alpha)
        self.inverse = np.linalg.pinv(self.hessian, hermitian=True)
        self.total = float((remaining * votes.fit).sum())


def _rows_of(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]


@dataclass
class _Judged:
    """A group's influence per model and its spread under "votes like the others'", with what trims it."""

    theta_out: np.ndarray  # the others' fit
    inverse: np.ndarray  # H^+ at the others' fit
    delta: np.ndarray
    variance: np.ndarray
    bound: np.ndarray


def _judge_exact(board: _Board, rows: np.ndarray) -> _Judged:
    v = board.votes
    mine = np.zeros_like(board.remaining)
    mine[rows] = board.remaining[rows]
    others = win_matrix(v, board.remaining - mine)
    theta_out = bt.fit(others, alpha=board.alpha, initial=board.theta)
    # The step toward all the votes from the others' fit takes the curvature of all of them there.
    inverse = np.linalg.pinv(information(theta_out, board.wins + board.wins.T, board.alpha), hermitian=True)
    return _trim_state(board, rows, theta_out, inverse)


def _trim_state(board: _Board, rows: np.ndarray, theta_out: np.ndarray, inverse: np.ndarray) -> _Judged:
    v = board.votes
    a, b = v.model_a[rows], v.model_b[rows]
    c = board.remaining[rows] * v.fit[rows]
    p = _sigmoid(theta_out[a] - theta_out[b])
    u = (inverse[:, a] - inverse[:, b]).T  # (rows, models)
    delta = (c * (v.score[rows] - p)) @ u
    variance = (c * p * (1.0 - p)) @ (u * u)
    used = c > 0
    bound = (np.max(np.abs(u[used]) * np.maximum(p, 1 - p)[used, None], axis=0) if used.any()
             else np.zeros(v.n_models))  # fmt: skip
    return _Judged(theta_out, inverse, delta, variance, bound)


def _judge_all(board: _Board, family: GroupFamily, exact_share: float, screen: float | None = None):
    """Influence, spread and per-vote bound of every group of a family, as (groups, models) arrays, and the
    exact states of the groups that needed one. `screen`: a group holding more than `exact_share` of the votes
    gets its exact refit only if its one-step tail bound is below this (None: always), so that the many large
    groups of a small board that no test would flag cost no refit."""
    v, k, n_groups = board.votes, board.votes.n_models, family.n_groups
    in_group = family.group >= 0
    rows = np.flatnonzero(in_group & (board.remaining * v.fit > 0))
    g, a, b = family.group[rows], v.model_a[rows], v.model_b[rows]
    c = board.remaining[rows]
    # One Newton step back from the fit of all votes: theta_-G ~ theta - H^+ g_G(theta).
    residual = c * (v.score[rows] - _sigmoid(board.theta[a] - board.theta[b]))
    theta_out = board.theta[None, :] - _per_model(g, a, b, residual, n_groups, k) @ board.inverse
    p = _sigmoid(theta_out[g, a] - theta_out[g, b])
    delta = _per_model(g, a, b, c * (v.score[rows] - p), n_groups, k) @ board.inverse
    variance, bound = _spread(board.inverse, g, a, b, c * p * (1.0 - p), np.maximum(p, 1 - p), n_groups)
    votes = np.bincount(g, weights=c, minlength=n_groups)
    exact = {}
    if board.total > 0:
        big = np.flatnonzero(votes > exact_share * board.total)
        if screen is not None and len(big):
            tail = bernstein_tail(np.abs(delta[big]), variance[big], bound[big])
            big = big[tail.min(axis=1) < screen]
        for group in big:
            state = _judge_exact(board, rows[g == group])
            delta[group], variance[group], bound[group] = state.delta, state.variance, state.bound
            exact[int(group)] = state
    return votes, delta, variance, bound, theta_out, exact


def _per_model(g: np.ndarray, a: np.ndarray, b: np.ndarray, value: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(groups, models): each row's value added at (group, a) and subtracted at (group, b)."""
    size = n_groups * k
    return (np.bincount(g * k + a, weights=value, minlength=size)
            - np.bincount(g * k + b, weights=value, minlength=size)).reshape(n_groups, k)  # fmt: skip


def _spread(inverse: np.ndarray, g: np.ndarray, a: np.ndarray, b: np.ndarray, weight: np.ndarray,
            sure: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per group and model, the variance sum_rows weight u^2 and the bound max_rows sure |u|, u = H^+ (e_a - e_b).
    A row's u depends only on its pair, and its `sure` (max(p, 1 - p) at the group's leave-out fit) only on its
    group and pair, so the sums run over (group, pair) entries and u is formed once per pair."""
    k = inverse.shape[0]
    if len(g) == 0:
        return np.zeros((n_groups, k)), np.zeros((n_groups, k))
    low, high = np.minimum(a, b), np.maximum(a, b)
    entries, first, entry = np.unique((g * k + low) * k + high, return_index=True, return_inverse=True)
    pairs, pair = np.unique(entries % (k * k), return_inverse=True)
    u = inverse[pairs // k] - inverse[pairs % k]  # rows of H^+ (symmetric): (pairs, models)
    group = entries // (k * k)
    per_entry = sparse.csr_matrix((np.bincount(entry, weights=weight, minlength=len(entries)), (group, pair)),
                                  shape=(n_groups, len(pairs)))  # fmt: skip
    variance = np.asarray(per_entry @ (u * u))
    bound = np.zeros((n_groups, k))
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])  # entries are sorted by group
    ends = np.r_[starts[1:], len(entries)]
    for lo in range(0, len(starts), _CHUNK_GROUPS):
        heads = starts[lo : lo + _CHUNK_GROUPS]
        begin, end = heads[0], ends[lo + len(heads) - 1]
        block = np.abs(u[pair[begin:end]]) * sure[first[begin:end], None]
        bound[group[heads]] = np.maximum.reduceat(block, heads - begin, axis=0)
    return variance, bound


def _bound_group(board: _Board, rows: np.ndarray, state: _Judged, cap_z: float, floor: np.ndarray,
                 models: np.ndarray, passes: int = 6) -> np.ndarray:  # fmt: skip
    """Trim, then judge what is left afresh (an exact refit: with fewer votes of the group in the fit, each of
    the rest moves the board more than the first linear step said), until it is within the cap."""
    taken = np.zeros(len(rows))
    for _ in range(passes):
        more = _trim(board, rows, state, cap_z, floor, models, board.remaining[rows] - taken)
        taken += more
        if not more.any():
            break
        remaining = board.remaining.copy()
        remaining[rows] -= taken
        state = _judge_exact(_Board(board.votes, remaining, board.alpha, board.theta), rows)
        allowed = np.maximum(cap_z * np.sqrt(np.maximum(state.variance, 0.0)), floor)
        if np.all(np.where(models, np.abs(state.delta) <= allowed, True)):
            break
    return taken


def _trim(board: _Board, rows: np.ndarray, state: _Judged, cap_z: float, floor: np.ndarray,
          models: np.ndarray, left: np.ndarray) -> np.ndarray:  # fmt: skip
    """Votes of `rows` to set aside, most pushing first, until the |delta| of each of `models` (the ones the group
    was flagged on; the others' shifts are chance by the test) is within max(cap_z sd, floor)."""
    v = board.votes
    a, b = v.model_a[rows], v.model_b[rows]
    p = _sigmoid(state.theta_out[a] - state.theta_out[b])
    u = (state.inverse[:, a] - state.inverse[:, b]).T
    per_vote = (v.fit[rows] * (v.score[rows] - p))[:, None] * u
    per_variance = (v.fit[rows] * p * (1.0 - p))[:, None] * u * u
    delta, variance = state.delta.copy(), state.variance.copy()
    left = left.copy()
    taken = np.zeros(len(rows))
    owner = None if v.voter is None else np.unique(v.voter[rows], return_inverse=True)[1]
    if owner is not None:  # each voter's pull along the group's whole (standardised) shift, as first judged
        sureness = _sureness(per_vote @ (delta / np.maximum(cap_z * variance, 1e-300)), owner, left)
    for _ in range(100_000):
        allowed = np.maximum(cap_z * np.sqrt(np.maximum(variance, 0.0)), floor)
        over = np.where(models, np.abs(delta) / np.maximum(allowed, 1e-300), 0.0)
        m = int(np.argmax(over))
        if over[m] <= 1.0:
            break
        push = np.where(left > 0, np.sign(delta[m]) * per_vote[:, m], 0.0)
        if push.max() <= 0:
            break
        if owner is None:
            j = int(np.argmax(push))
        else:  # the surest voter's most pushing vote first
            j = int(np.argmax(np.where(push > 0, sureness[owner] + 1e-9 * push / push.max(), -np.inf)))
        excess = abs(delta[m]) - allowed[m]
        n = float(min(left[j], max(1.0, np.floor(excess / push[j]))))
        delta -= n * per_vote[j]
        variance = np.maximum(variance - n * per_variance[j], 0.0)
        left[j] -= n
        taken[j] += n
    return taken


def _sureness(along: np.ndarray, owner: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per voter, how surely their votes pull along the group's shift: the sum of their pulls over its root sum of
    squares (a handful of votes that happen to lean say little, a script's dozens say much). Within a flagged
    group the surest voters' votes are set aside first, so the honest members behind a shared address keep theirs."""
    total = np.bincount(owner, weights=count * along)
    return total / np.sqrt(np.maximum(np.bincount(owner, weights=count * along**2), 1e-300))


def bound_influence(
    votes: GroupedVotes,
    families: list[GroupFamily],
    *,
    prior: float = bt.DEFAULT_ALPHA,
    alpha: float = DEFAULT_ALPHA,
    cap_z: float = DEFAULT_CAP_Z,
    cap_se: float = DEFAULT_CAP_SE,
    min_votes: float = DEFAULT_MIN_VOTES,
    exact_share: float = DEFAULT_EXACT_SHARE,
    rounds: int = DEFAULT_ROUNDS,
    max_groups: int = DEFAULT_MAX_GROUPS,
) -> InfluenceResult:
    """Judge every group of every family (in order) on the votes left, set aside what bounds the flagged ones,
    refit, and again until a round flags nothing (at most `rounds`). `prior`: the fit's virtual ties."""
    removed = np.zeros(len(votes.count))
    result = InfluenceResult(removed)
    theta = None
    for round_ in range(rounds):
        result.rounds = round_ + 1
        flagged_any = False
        for family in families:
            for _ in range(max_groups):
                board = _Board(votes, votes.count - removed, prior, theta)
                theta = board.theta
                verdicts, tests, largest = _judge_family(board, family, alpha=alpha, cap_z=cap_z, cap_se=cap_se,
                                                         min_votes=min_votes, exact_share=exact_share)  # fmt: skip
                result.tests[family.name] = max(result.tests.get(family.name, 0), tests)
                if largest is not None:
                    result.largest_before.setdefault(family.name, largest)
                    result.largest_after[family.name] = largest
                for verdict, rows, taken in verdicts:
                    removed[rows] += taken
                    verdict.set_aside = float(taken.sum())
                    result.verdicts.append(verdict)
                    flagged_any = True
                if not verdicts:
                    break
        if not flagged_any:
            break
    return result


def _judge_family(board: _Board, family: GroupFamily, *, alpha: float, cap_z: float, cap_se: float,
                  min_votes: float, exact_share: float):  # fmt: skip
    # The number of tests is known before the exact refits: a large group whose one-step bound is far above the
    # threshold (a thousand times) is left at its one-step figures, which are that far from flagging it.
    inside = family.group >= 0
    volume = np.bincount(family.group[inside], weights=(board.remaining * board.votes.fit)[inside],
                         minlength=family.n_groups)  # fmt: skip
    tested = (volume >= min_votes) & (board.total - volume >= DEFAULT_MIN_REFERENCE)
    n_tests = int(tested.sum()) * board.votes.n_models
    if n_tests == 0:
        return [], 0, None
    screen = 1000.0 * alpha / (2.0 * n_tests)
    n_votes, delta, variance, bound, theta_out, exact = _judge_all(board, family, exact_share, screen)
    tested = (n_votes >= min_votes) & (board.total - n_votes >= DEFAULT_MIN_REFERENCE)
    n_tests = int(tested.sum()) * board.votes.n_models
    if n_tests == 0:
        return [], 0, None
    points = np.where(tested[:, None], np.abs(delta), -1.0)
    group, model = np.unravel_index(int(np.argmax(points)), points.shape)
    largest = Largest(int(group), int(model), float(bt.ELO_SCALE * delta[group, model]),
                      float(abs(delta[group, model]) / np.sqrt(max(variance[group, model], 1e-300))))  # fmt: skip
    tail = bernstein_tail(np.abs(delta), variance, bound)
    threshold = alpha / (2.0 * n_tests)
    flagged = tested[:, None] & (tail < threshold)
    out = []
    groups = np.flatnonzero(flagged.any(axis=1))
    if len(groups) == 0:
        return out, n_tests, largest
    floor = cap_se * np.sqrt(np.maximum(np.diag(board.inverse), 0.0))
    members = _rows_of(np.where(board.remaining * board.votes.fit > 0, family.group, -1), family.n_groups)
    # The most improbable group first, and only it: its votes set the others' expectations (honest voters look
    # like they pull a target down while an attack holds it up), so the rest are judged again after a refit.
    for group in groups[np.argsort(tail[groups].min(axis=1), kind="stable")]:
        rows = members[group]
        state = exact.get(int(group)) or _trim_state(board, rows, theta_out[group], board.inverse)
        sd = np.sqrt(np.maximum(state.variance, 1e-300))
        allowed = np.maximum(cap_z * sd, floor)
        over = np.where(flagged[group], np.abs(state.delta) / allowed, 0.0)
        model = int(np.argmax(over))
        if over[model] <= 1.0:
            continue
        z = float(abs(state.delta[model]) / sd[model])
        taken = _bound_group(board, rows, state, cap_z, floor, flagged[group])
        verdict = Verdict(family.name, int(group), model, float(n_votes[group]), z,
                          float(bt.ELO_SCALE * state.delta[model]), float(tail[group, model]))  # fmt: skip
        out.append((verdict, rows, taken))
        break
    return out, n_tests, largest


def leave_out_fits(
    votes: GroupedVotes, family: GroupFamily, *, prior: float = bt.DEFAULT_ALPHA,
    exact_share: float = DEFAULT_EXACT_SHARE,
) -> np.ndarray:  # fmt: skip
    """Per group, the strengths fitted without its votes, (groups, models): one Newton step back from the fit
    of all votes, or an exact refit for a group holding more than `exact_share` of them. What every rule that
    judges a group should judge it against, so that a group's own votes never set its expectation. A group with
    fewer than `DEFAULT_MIN_REFERENCE` other votes has no one to be compared with: it gets the fit of all votes."""
    board = _Board(votes, votes.count.astype(np.float64), prior, None)
    n_votes, _, _, _, theta_out, exact = _judge_all(board, family, exact_share)
    for group, state in exact.items():
        theta_out[group] = state.theta_out
    alone = board.total - n_votes < DEFAULT_MIN_REFERENCE
    theta_out[alone] = board.theta
    return theta_out
