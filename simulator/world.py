"""The simulated world: RecSim NG interest-evolution entities, extended with days and return.

Everything here follows RecSim NG's entity protocol (``specs / initial_state / next_state /
next_response``) and is wired by RecSim NG's own story,
``recsim_ng.stories.recommendation_simulation.recs_story``, and run by its compiled
``TFRuntime``. What evorec adds to the interest-evolution model
(``recsim_ng.applications.recsys_partially_observable_rl``):

* simulated **days** of ``steps_per_day`` steps; at the start of each day a user returns
  with probability ``sigmoid(return_bias + return_slope * satisfaction)``, and a session
  continues step to step with ``sigmoid(continue_bias + continue_slope * satisfaction)``;
* a latent **satisfaction** that moves, at each step in session, towards the step's
  experience: ``tanh(quality_satisfaction * quality) + 0.5 * (completion - 0.5)`` for a click,
  ``boredom`` otherwise (and drifts back towards its sign-up value overnight);
* per-item **signals**: click (RecSim's multinomial-logit choice of at most one item, with
  a clickbait term ``clickbait_appeal * -quality`` in the utility), watch time and completion
  (the consumed fraction rises as quality falls, as in RecSim NG), like, dismiss and a
  sparse noisy 1..5 survey answer;
* a candidate-generation stage: each step the corpus offers ``num_candidates`` documents.

So low-quality ("clickbait") documents draw clicks and watch time now, but lower
satisfaction — and with it the chance users come back — later, and (RecSim NG's interest
evolution) push interests away.

All randomness is *stateless*, keyed by ``(seed, step, stream)``: the network value at a
step is a pure function of the value before it, which is what makes a checkpointed world
restore and continue bit-for-bit (:meth:`World.state_dict`). Serving is a batched Python
callback (``tf.numpy_function``) that hands each arm's in-session users to its policy in
one call and takes the top-``slate_size`` by score.

Shapes: U users, T topics, N corpus documents, D candidates per step, K slate size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evorec.errors import SimulationError
from evorec.simulator.policy import Policy, ServingBatch
from evorec.simulator.surfaces import Surface

__all__ = ["WORLD_VERSION", "Corpus", "Population", "World", "make_corpus", "make_population"]

#: Bumped whenever the world's dynamics change (written to ``meta`` and into A/B states).
WORLD_VERSION = 1

# Streams of the stateless random numbers (seed = [world seed, step * 16 + stream]).
_S_RETURN, _S_CONTINUE, _S_CHOICE, _S_COMPLETION, _S_LIKE, _S_DISMISS = 0, 1, 2, 3, 4, 5
_S_ASK, _S_SURVEY, _S_CANDIDATES, _S_INITIAL = 6, 7, 8, 9
_STREAMS = 16


def _sub_seed(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % (2**63), *keys]))


def policy_seed(seed: int, t: int, arm: int) -> int:
    """Deterministic per-step, per-arm seed handed to policies (``ServingBatch.seed``)."""
    digest = hashlib.blake2b(f"{seed}:{t}:{arm}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


class Corpus:
    """The static corpus (numpy). N documents; ids are 0..N-1.

    ``quality`` and ``appeal`` are hidden; ``quality_score``, ``features``, ``topic``,
    ``length`` and ``views`` are what a ranker may see.
    """

    def __init__(self, **arrays: np.ndarray) -> None:
        self.doc_id: np.ndarray = arrays["doc_id"]  # [N] int64
        self.topic: np.ndarray = arrays["topic"]  # [N] int64
        self.quality: np.ndarray = arrays["quality"]  # [N] float32 (hidden)
        self.quality_score: np.ndarray = arrays["quality_score"]  # [N] float32
        self.features: np.ndarray = arrays["features"]  # [N, T] float32
        self.length: np.ndarray = arrays["length"]  # [N] float32 seconds
        self.appeal: np.ndarray = arrays["appeal"]  # [N] float32 (hidden) = -quality
        self.views: np.ndarray = arrays["views"]  # [N] int64 prior views


class Population:
    """The static part of the user population (numpy)."""

    def __init__(self, interest: np.ndarray, features: np.ndarray, satisfaction: np.ndarray):
        self.interest = interest  # [U, T] float32 initial (hidden) interests
        self.features = features  # [U, T] float32 observable profile
        self.satisfaction = satisfaction  # [U] float32 sign-up satisfaction (hidden)


def make_corpus(surface: Surface, seed: int) -> Corpus:
    """The corpus of a surface and seed (RecSim NG's topic/quality corpus, plus lengths)."""
    rng = _sub_seed(seed, 1)
    n, t = surface.num_docs, surface.num_topics
    # RecSim NG: a share of topics is "trashy" (mean quality in [-1, 0]), the rest nutritious.
    n_trashy = int(round(t * surface.trashy_topic_fraction))
    means = np.concatenate(
        [np.linspace(-1.0, 0.0, n_trashy), np.linspace(0.0, 1.0, t - n_trashy)]
    ).astype(np.float32)
    topic = rng.integers(0, t, size=n)
    quality = (means[topic] + surface.quality_spread * rng.standard_normal(n)).astype(np.float32)
    features = (np.eye(t)[topic] + surface.feature_noise * rng.standard_normal((n, t))).astype(
        np.float32
    )
    length = (surface.mean_length * np.exp(surface.length_spread * rng.standard_normal(n))).astype(
        np.float32
    )
    score = (quality + surface.quality_score_noise * rng.standard_normal(n)).astype(np.float32)
    appeal = (-quality).astype(np.float32)
    # Prior views: clickbait is popular; views are log-normal around its appeal.
    views = np.floor(np.exp(6.0 + 0.8 * appeal + 0.2 * quality + rng.standard_normal(n))).astype(
        np.int64
    )
    return Corpus(
        doc_id=np.arange(n, dtype=np.int64),
        topic=topic.astype(np.int64),
        quality=quality,
        quality_score=score,
        features=features,
        length=length,
        appeal=appeal,
        views=views,
    )


def make_population(surface: Surface, users: int, seed: int) -> Population:
    """Users' initial interests (RecSim NG: Gaussian), noisy profiles and satisfaction."""
    rng = _sub_seed(seed, 2)
    t = surface.num_topics
    interest = (surface.interest_scale * rng.standard_normal((users, t))).astype(np.float32)
    features = (interest + surface.profile_noise * rng.standard_normal((users, t))).astype(
        np.float32
    )
    satisfaction = (
        surface.initial_satisfaction + surface.satisfaction_spread * rng.standard_normal(users)
    ).astype(np.float32)
    return Population(interest, features, satisfaction)


Router = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _build_entities(
    surface: Surface, users: int, seed: int, corpus: Corpus, pop: Population, serve: Router
):
    """Entity classes bound to this world (imports TensorFlow and RecSim NG lazily)."""
    from evorec.simulator._tf import import_recsim

    import_recsim()
    import tensorflow as tf
    from recsim_ng.applications.recsys_partially_observable_rl import corpus as ie_corpus
    from recsim_ng.applications.recsys_partially_observable_rl import user as ie_user
    from recsim_ng.core import value
    from recsim_ng.entities.choice_models import selectors
    from recsim_ng.entities.recommendation import metrics as metrics_lib
    from recsim_ng.entities.recommendation import recommender as recommender_lib
    from recsim_ng.lib.tensorflow import field_spec

    Value = value.Value
    ValueSpec = value.ValueSpec

    def spec(**names: Any) -> Any:
        return ValueSpec(**{k: field_spec.FieldSpec() for k in names})

    s = surface
    U, K, D, S = users, s.slate_size, s.num_candidates, s.steps_per_day
    N = s.num_docs
    seed64 = tf.constant(seed % (2**63), tf.int64)

    def rseed(t: Any, stream: int) -> Any:
        return tf.stack([seed64, tf.cast(t, tf.int64) * _STREAMS + stream])

    def uniform(t: Any, stream: int, shape: Sequence[int]) -> Any:
        return tf.random.stateless_uniform(shape, seed=rseed(t, stream))

    def normal(t: Any, stream: int, shape: Sequence[int]) -> Any:
        return tf.random.stateless_normal(shape, seed=rseed(t, stream))

    docs = {
        "doc_id": tf.constant(corpus.doc_id.astype(np.int32)),
        "doc_topic": tf.constant(corpus.topic.astype(np.int32)),
        "doc_quality": tf.constant(corpus.quality),
        "doc_features": tf.constant(corpus.features),
        "doc_length": tf.constant(corpus.length),
        "doc_appeal": tf.constant(corpus.appeal),
    }
    s0 = tf.constant(pop.satisfaction)

    class PlatformCorpus(ie_corpus.CorpusWithTopicAndQuality):
        """RecSim NG's topic/quality corpus, static, offering D candidates per step.

        State: ``t`` (the step). The documents themselves are fixed tensors (as in
        ``StaticCorpus``); ``available_documents`` draws this step's candidates.
        """

        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config)

        def initial_state(self) -> Any:
            return Value(t=tf.constant(0, tf.int32))

        def next_state(self, previous_state: Any, user_response: Any, slate_docs: Any) -> Any:
            del user_response, slate_docs
            return Value(t=previous_state.get("t") + 1)

        def available_documents(self, corpus_state: Any) -> Any:
            if D == N:
                return Value(**docs)
            keys = uniform(corpus_state.get("t"), _S_CANDIDATES, [N])
            idx = tf.sort(tf.math.top_k(keys, k=D, sorted=False).indices)
            return Value(**{k: tf.gather(v, idx) for k, v in docs.items()})

        def specs(self) -> Any:
            state = spec(t=1)
            avail = spec(**dict.fromkeys(docs))
            return state.prefixed_with("state").union(avail.prefixed_with("available_docs"))

    class PlatformUser(ie_user.InterestEvolutionUser):
        """RecSim NG's interest-evolution user with days, satisfaction and more signals.

        State: interest [U,T] (and its linear pre-squash form), satisfaction [U], active
        [U] (came today), in_session [U], running daily totals, and ``t``.
        Response: RecSim's ``choice`` [U] (K = no click) and ``consumed_time`` [U], plus
        click/watch_time/completion/like/dismiss/survey [U,K], the post-step satisfaction
        [U] and the day's running totals [U].
        """

        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(
                config,
                no_click_mass=s.no_click_mass,
                interest_step_size=s.interest_step_size,
            )

        def _start_day(self, t: Any, satisfaction: Any) -> Any:
            p = tf.sigmoid(s.return_bias + s.return_slope * satisfaction)
            return uniform(t, _S_RETURN, [U]) < p

        def initial_state(self) -> Any:
            t = tf.constant(0, tf.int32)
            interest = tf.constant(pop.interest)
            active = self._start_day(t, s0)
            return Value(
                interest=interest,
                interest_linear=interest,
                satisfaction=s0,
                active=active,
                in_session=active,
                day_watch_time=tf.zeros([U]),
                day_clicks=tf.zeros([U], tf.int32),
                t=t,
            )

        def next_state(self, previous_state: Any, user_response: Any, slate_docs: Any) -> Any:
            t = previous_state.get("t") + 1
            choice = user_response.get("choice")
            clicked = choice < K
            chosen = selectors.get_chosen(slate_docs, choice, nochoice_value=0)
            interest = previous_state.get("interest")
            # RecSim NG interest evolution (noise-free): towards the consumed document's
            # topic in proportion to its quality (away from it for negative quality) ...
            direction = tf.expand_dims(chosen.get("doc_quality"), -1) * (
                chosen.get("doc_features") - interest
            )
            linear = previous_state.get("interest_linear") + s.interest_step_size * tf.where(
                clicked[:, None], direction, 0.0
            )
            # ... squashed as there: 4M (sigmoid(x/M) - 1/2).
            m = self._max_user_affinity
            interest = 4.0 * m * (tf.sigmoid(linear / m) - 0.5)
            satisfaction = user_response.get("satisfaction")
            new_day = tf.equal(t % S, 0)
            satisfaction = tf.where(
                new_day, satisfaction + s.satisfaction_recovery * (s0 - satisfaction), satisfaction
            )
            returns = self._start_day(t, satisfaction)
            keep = uniform(t, _S_CONTINUE, [U]) < tf.sigmoid(
                s.continue_bias + s.continue_slope * satisfaction
            )
            active = tf.where(new_day, returns, previous_state.get("active"))
            in_session = tf.where(new_day, returns, previous_state.get("in_session") & keep)
            return Value(
                interest=interest,
                interest_linear=linear,
                satisfaction=satisfaction,
                active=active,
                in_session=in_session,
                day_watch_time=tf.where(new_day, 0.0, user_response.get("day_watch_time")),
                day_clicks=tf.where(new_day, 0, user_response.get("day_clicks")),
                t=t,
            )

        def observation(self, user_state: Any) -> Any:
            return Value(t=user_state.get("t"), in_session=user_state.get("in_session"))

        def next_response(self, previous_state: Any, slate_docs: Any) -> Any:
            t = previous_state.get("t")
            in_session = previous_state.get("in_session")
            affinities = self._affinity_model.affinities(
                previous_state.get("interest"), slate_docs.get("doc_features")
            ).get("affinities")
            quality = slate_docs.get("doc_quality")
            # RecSim NG's multinomial-logit choice (affinity + 2, a no-click option), plus
            # the clickbait pull; sampled with stateless Gumbel noise.
            utility = affinities + 2.0 + s.clickbait_appeal * slate_docs.get("doc_appeal")
            logits = tf.concat([utility, tf.fill([U, 1], float(s.no_click_mass))], axis=1)
            gumbel = -tf.math.log(-tf.math.log(uniform(t, _S_CHOICE, [U, K + 1]) * 0.999998 + 1e-6))
            choice = tf.argmax(logits + gumbel, axis=1, output_type=tf.int32)
            choice = tf.where(in_session, choice, K)
            click = tf.equal(tf.range(K)[None, :], choice[:, None])
            # RecSim NG: the consumed fraction rises as quality falls (clickbait is watched).
            fraction = tf.sigmoid(
                s.completion_bias - quality + 0.5 * normal(t, _S_COMPLETION, [U, K])
            )
            completion = tf.where(click, fraction, 0.0)
            watch_time = completion * slate_docs.get("doc_length")
            like = click & (
                uniform(t, _S_LIKE, [U, K]) < tf.sigmoid(s.like_bias + 2.0 * quality + completion)
            )
            dismiss = (
                in_session[:, None]
                & ~click
                & (uniform(t, _S_DISMISS, [U, K]) < tf.sigmoid(s.dismiss_bias - 1.5 * quality))
            )
            asked = click & (uniform(t, _S_ASK, [U, K]) < s.survey_rate)
            answer = tf.clip_by_value(
                tf.round(
                    3.0
                    + 2.0 * tf.tanh(s.quality_satisfaction * quality)
                    + s.survey_noise * normal(t, _S_SURVEY, [U, K])
                ),
                1.0,
                5.0,
            )
            survey = tf.where(asked, tf.cast(answer, tf.int32), 0)
            clicked = choice < K
            chosen_q = tf.reduce_sum(tf.where(click, quality, 0.0), axis=1)
            chosen_c = tf.reduce_sum(completion, axis=1)
            experience = tf.where(
                clicked,
                tf.tanh(s.quality_satisfaction * chosen_q) + 0.5 * (chosen_c - 0.5),
                s.boredom,
            )
            sat = previous_state.get("satisfaction")
            sat = tf.where(in_session, sat + s.satisfaction_rate * (experience - sat), sat)
            consumed = tf.reduce_sum(watch_time, axis=1)
            return Value(
                choice=choice,
                consumed_time=consumed,
                click=click,
                watch_time=watch_time,
                completion=completion,
                like=like,
                dismiss=dismiss,
                survey=survey,
                satisfaction=sat,
                day_watch_time=previous_state.get("day_watch_time") + consumed,
                day_clicks=previous_state.get("day_clicks") + tf.cast(clicked, tf.int32),
            )

        def specs(self) -> Any:
            state = spec(
                interest=1,
                interest_linear=1,
                satisfaction=1,
                active=1,
                in_session=1,
                day_watch_time=1,
                day_clicks=1,
                t=1,
            )
            response = spec(
                choice=1,
                consumed_time=1,
                click=1,
                watch_time=1,
                completion=1,
                like=1,
                dismiss=1,
                survey=1,
                satisfaction=1,
                day_watch_time=1,
                day_clicks=1,
            )
            obs = spec(t=1, in_session=1)
            return (
                state.prefixed_with("state")
                .union(obs.prefixed_with("observation"))
                .union(response.prefixed_with("response"))
            )

    class PlatformRecommender(recommender_lib.BaseRecommender):
        """Serves through a batched Python callback: policies score, top-K become the slate.

        ``slate_docs`` adds ``slate_index`` [U,K] (into this step's candidates) and
        ``propensity`` [U,K] (the serving policy's slate-inclusion probability, NaN when
        the policy does not say) to the documents' fields.
        """

        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config, name="PlatformRecommender")

        def initial_state(self) -> Any:
            return Value(t=tf.constant(0, tf.int32))

        def next_state(self, previous_state: Any, user_response: Any, slate_docs: Any) -> Any:
            del user_response, slate_docs
            return Value(t=previous_state.get("t") + 1)

        def slate_docs(self, previous_state: Any, user_obs: Any, available_docs: Any) -> Any:
            slate, propensity = tf.numpy_function(
                serve,
                [user_obs.get("t"), user_obs.get("in_session"), available_docs.get("doc_id")],
                [tf.int32, tf.float32],
                stateful=True,
            )
            slate.set_shape([U, K])
            propensity.set_shape([U, K])
            docs_in_slate = available_docs.map(lambda f: tf.gather(f, slate))
            return docs_in_slate.union(Value(slate_index=slate, propensity=propensity))

        def specs(self) -> Any:
            return (
                spec(t=1)
                .prefixed_with("state")
                .union(
                    spec(**dict.fromkeys(docs), slate_index=1, propensity=1).prefixed_with("slate")
                )
            )

    class PlatformMetrics(metrics_lib.RecsMetricsBase):
        """Cumulative clicks and watch time per user (RecSim NG metrics entity)."""

        def initial_metrics(self) -> Any:
            return Value(clicks=tf.zeros([U], tf.int32), watch_time=tf.zeros([U]))

        def next_metrics(
            self,
            previous_metrics: Any,
            corpus_state: Any,
            user_state: Any,
            user_response: Any,
            slate_docs: Any,
        ) -> Any:
            del corpus_state, user_state, slate_docs
            return Value(
                clicks=previous_metrics.get("clicks")
                + tf.cast(user_response.get("choice") < K, tf.int32),
                watch_time=previous_metrics.get("watch_time") + user_response.get("consumed_time"),
            )

        def specs(self) -> Any:
            return spec(clicks=1, watch_time=1).prefixed_with("state")

    return PlatformUser, PlatformCorpus, PlatformRecommender, PlatformMetrics


def _set_threads() -> None:
    """Fixed TensorFlow thread counts (determinism and sharing the CPU); best effort."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its setting
        pass


class World:
    """One simulated world: a surface, U users, a seed, RecSim NG's runtime, a router.

    ``route(arm, policies)`` decides who is served by which policy: ``arm`` [U] int holds
    each user's index into ``policies``. ``step(n)`` advances n steps; ``value`` is the
    current RecSim NG network value (step ``t``). The world starts *before* step 0:
    the first ``step(1)`` produces step 0 (the story's initial value).
    """

    def __init__(self, surface: Surface, users: int, seed: int) -> None:
        from evorec.simulator._tf import import_recsim

        import_recsim()
        import tensorflow as tf
        from recsim_ng.core import network as network_lib
        from recsim_ng.lib.tensorflow import runtime
        from recsim_ng.stories import recommendation_simulation

        _set_threads()
        self.surface = surface
        self.users = int(users)
        self.seed = int(seed)
        self.corpus = make_corpus(surface, seed)
        self.population = make_population(surface, users, seed)
        self._arm = np.zeros(users, dtype=np.int64)
        self._policies: list[Policy] = []
        self._error: BaseException | None = None
        self._user_ids = np.arange(users, dtype=np.int64)
        config = {
            "num_users": users,
            "num_topics": surface.num_topics,
            "num_docs": surface.num_docs,
            "slate_size": surface.slate_size,
        }
        ctors = _build_entities(surface, users, seed, self.corpus, self.population, self._serve)
        user_ctor, corpus_ctor, rec_ctor, metrics_ctor = ctors
        variables = recommendation_simulation.recs_story(
            config, user_ctor, corpus_ctor, rec_ctor, metrics_ctor
        )
        self._network = network_lib.Network(variables=variables)
        self._runtime = runtime.TFRuntime(network=self._network)
        self._names = [v.name for v in self._network.variables]
        rt = self._runtime

        # The runtime's execute() takes RecSim ``Value`` objects, which tf.function cannot
        # key its trace cache on; wrap it in a function over plain nested dicts so it is
        # traced once and reused for every call.
        @tf.function
        def _advance(num_steps: Any, packed: Any) -> Any:
            from recsim_ng.core.value import Value

            start = {name: Value(**fields) for name, fields in packed.items()}
            end = rt.execute(num_steps=num_steps, starting_value=start)
            return {name: end[name].as_dict for name in packed}

        network = self._network

        def _initial() -> Any:
            # The initial step is computed eagerly: tracing it would cost seconds for a
            # single use.
            start = network.initial_step()
            return {name: start[name].as_dict for name in start}

        self._advance = _advance
        self._initial = _initial
        self._recorders: dict[tuple[tuple[str, str], ...], Any] = {}
        self.value: dict[str, dict[str, Any]] | None = None

    def _recorder(self, fields: tuple[tuple[str, str], ...]) -> Any:
        """A compiled loop that steps and stacks the chosen fields of every step.

        RecSim NG's ``trajectory()`` stacks every field of every variable; this keeps only
        what the caller records, in ``TensorArray``s inside one ``tf.while_loop`` (the same
        ``network.step`` as ``execute``), so a day of logging is one call, not one per step.
        """
        import tensorflow as tf
        from recsim_ng.core.value import Value

        if fields in self._recorders:
            return self._recorders[fields]
        network = self._network

        @tf.function
        def _record(num_steps: Any, packed: Any) -> Any:
            arrays = [
                tf.TensorArray(
                    packed[var][f].dtype, size=num_steps, element_shape=packed[var][f].shape
                )
                for var, f in fields
            ]

            def body(i: Any, prev: Any, arrays: list[Any]) -> Any:
                value = network.step({name: Value(**fv) for name, fv in prev.items()})
                nxt = {name: value[name].as_dict for name in prev}
                arrays = [
                    a.write(i, nxt[var][f]) for a, (var, f) in zip(arrays, fields, strict=True)
                ]
                return i + 1, nxt, arrays

            _, end, arrays = tf.while_loop(
                lambda i, *_: i < num_steps, body, (tf.constant(0), packed, arrays)
            )
            return end, [a.stack() for a in arrays]

        self._recorders[fields] = _record
        return _record

    def record(self, num_steps: int, fields: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """Advance ``num_steps`` steps (after the first) and return the chosen fields of each.

        ``fields`` are ``(variable, field)`` pairs of the network value, e.g.
        ``("user response", "click")``; each comes back stacked, ``[num_steps, ...]``.
        """
        import tensorflow as tf

        if self.value is None:
            raise SimulationError("record() continues a started world: call step(1) first")
        key = tuple((str(v), str(f)) for v, f in fields)
        self._error = None
        try:
            self.value, arrays = self._recorder(key)(tf.constant(num_steps), self.value)
        except tf.errors.OpError as exc:
            raise self._simulation_error(exc) from exc
        return [a.numpy() for a in arrays]

    def _simulation_error(self, exc: Any) -> SimulationError:
        err = self._error
        if isinstance(err, SimulationError):
            return SimulationError(str(err))
        if err is not None:
            return SimulationError(f"a serving policy failed: {type(err).__name__}: {err}")
        return SimulationError(f"simulation step failed: {exc.message}")

    # ------------------------------------------------------------------ serving

    def route(self, arm: np.ndarray, policies: Sequence[Policy]) -> None:
        """Serve user u with ``policies[arm[u]]`` from the next step on."""
        arm = np.asarray(arm, dtype=np.int64)
        if arm.shape != (self.users,):
            raise SimulationError(f"arm must have shape ({self.users},), got {arm.shape}")
        if len(policies) == 0 or arm.min() < 0 or arm.max() >= len(policies):
            raise SimulationError("every user needs a policy")
        self._arm = arm
        self._policies = list(policies)

    def _serve(
        self, t: Any, in_session: np.ndarray, cand: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Python side of serving: [U] in-session mask, [D] candidate ids -> [U,K] slate."""
        try:
            return self._serve_inner(int(t), in_session, cand)
        except BaseException as exc:  # surfaced by step() as a SimulationError
            self._error = exc
            raise

    def _serve_inner(self, t: int, in_session: np.ndarray, cand: np.ndarray):
        s = self.surface
        K, D, U = s.slate_size, cand.shape[0], self.users
        cand = cand.astype(np.int64)
        c = self.corpus
        slate = np.zeros((U, K), dtype=np.int32)
        slate[:] = np.arange(K, dtype=np.int32)
        propensity = np.full((U, K), np.nan, dtype=np.float32)
        day, step = divmod(t, s.steps_per_day)
        for a, policy in enumerate(self._policies):
            rows = np.flatnonzero(in_session & (self._arm == a))
            if rows.size == 0:
                continue
            batch = ServingBatch(
                day=day,
                step=step,
                user_ids=self._user_ids[rows],
                user_features=self.population.features[rows],
                doc_ids=cand,
                doc_topic=c.topic[cand],
                doc_length=c.length[cand],
                doc_quality_score=c.quality_score[cand],
                doc_features=c.features[cand],
                seed=policy_seed(self.seed, t, a),
                doc_views=c.views[cand],
            )
            scores = np.asarray(policy.score(batch))
            if scores.shape != (rows.size, D):
                raise SimulationError(
                    f"policy {getattr(policy, 'name', policy)!r} returned scores of shape "
                    f"{scores.shape}, expected {(rows.size, D)}"
                )
            if not np.all(np.isfinite(scores)):
                raise SimulationError(
                    f"policy {getattr(policy, 'name', policy)!r} returned non-finite scores"
                )
            top = topk(scores, K)
            slate[rows] = top
            prop_fn = getattr(policy, "propensity", None)
            if prop_fn is not None:
                propensity[rows] = np.asarray(prop_fn(batch, top), dtype=np.float32)
        return slate, propensity

    # ------------------------------------------------------------------ stepping

    def step(self, num_steps: int = 1) -> dict[str, dict[str, Any]]:
        """Advance ``num_steps`` steps (the first call's first step is step 0)."""
        import tensorflow as tf

        if num_steps < 1:
            return self.value  # type: ignore[return-value]
        self._error = None
        try:
            if self.value is None:
                self.value = self._initial()
                num_steps -= 1
            if num_steps > 0:
                self.value = self._advance(tf.constant(num_steps), self.value)
        except tf.errors.OpError as exc:
            raise self._simulation_error(exc) from exc
        return self.value

    @property
    def t(self) -> int:
        """The current step (-1 before the first)."""
        if self.value is None:
            return -1
        return int(self.value["user state"]["t"].numpy())

    def fetch(self, variable: str, *fields: str) -> list[np.ndarray]:
        """Fields of a variable of the current value as numpy arrays."""
        assert self.value is not None
        return [self.value[variable][f].numpy() for f in fields]

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, dict[str, np.ndarray]]:
        """The whole network value as numpy arrays (None before the first step)."""
        if self.value is None:
            return {}
        return {
            name: {k: np.asarray(v.numpy()) for k, v in fields.items()}
            for name, fields in self.value.items()
        }

    def load_state_dict(self, state: dict[str, dict[str, np.ndarray]]) -> None:
        """Restore a value from :meth:`state_dict` (continuing gives identical results)."""
        import tensorflow as tf

        if not state:
            self.value = None
            return
        if set(state) != set(self._names):
            raise SimulationError("world state does not match this world's variables")
        self.value = {
            name: {k: tf.constant(v) for k, v in state[name].items()} for name in self._names
        }


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """[U, D] scores -> [U, k] int32 column indices of the k highest, best first.

    Ties break towards the lower index (the order of a stable sort), so slates are
    deterministic. Linear-time selection (``argpartition``) finds the k-th score of each
    row; the rows' k winners are then the scores above it plus the lowest-index ties at it,
    and only those k are sorted — far cheaper than sorting all D candidates.
    """
    u, d = scores.shape
    if k >= d:
        return np.argsort(-scores, axis=1, kind="stable").astype(np.int32)
    neg = -scores
    kth = np.take_along_axis(neg, np.argpartition(neg, k - 1, axis=1)[:, k - 1 : k], axis=1)
    above = neg < kth
    tied = neg == kth
    need = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))
    idx = np.nonzero(chosen)[1].reshape(u, k)  # row-major: ascending index within a row
    order = np.argsort(np.take_along_axis(neg, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1).astype(np.int32)
