"""The pair weights a transform's fit trains with: the consolidated posteriors its policy asks to weigh by.

With ``labeling_policy.weight_by_confidence`` the consolidation (``services.consolidating``) keeps each decided
set's pair posteriors in ``labeling_sets.consolidation.posteriors``; a fit reads them beside the labels and weighs
each labeled pair by the posterior of the side its set's labels took (``matcher.pair_weights``). Sets a reviewer
decided, gold sets and sets without answers (imported, ad hoc, one labeler) weigh 1: their labels are not a vote.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import or_, select

from matcher.consolidation import PAIR_KEY
from matcher.labels import Labels
from matcher.pair_weights import confidence_weights
from services.labeling_policy import policy_of
from storage.db import Database
from storage.models import LabelingSet, Transform


def pair_weights(db: Database, transform_id: str, labels: Labels | None) -> pd.DataFrame | None:
    """The weights for a fit on ``labels`` (``Matcher.refit_labels(weights=...)``): None when the policy does not
    weigh by confidence or no decided set has posteriors (a fit then counts every pair once)."""
    if labels is None:
        return None
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None or not policy_of(transform.labeling_policy).weight_by_confidence:
            return None
        notes = session.execute(select(LabelingSet.set_id, LabelingSet.consolidation).where(
            LabelingSet.transform_id == transform_id, LabelingSet.gold_labels.is_(None),
            or_(LabelingSet.review_state.is_(None), LabelingSet.review_state != "decided"))).all()
    rows = [(str(set_id), a, b, p) for set_id, note in notes
            for a, b, p in (note or {}).get("posteriors", [])]
    if not rows:
        return None
    return confidence_weights(pd.DataFrame(rows, columns=[*PAIR_KEY, "posterior"]), labels)
