"""Forward hooks on the MoE routers that record how close each routing decision was to a tie.

A reimplementation computes router logits with slightly different rounding; a decision whose k-th and
(k+1)-th candidates differ by less than that rounding could flip. We record the smallest gap seen so the
generator can reject seeds/prompts with near-ties.

Gaps are measured where the decision is made:
- V3 (sigmoid + e_score_correction_bias): in "score for choice" space, for the group choice (sum of the
  top-2 biased scores per group) and for the expert choice inside the kept groups.
- V2 (softmax): in router-logit space (softmax is monotone, logits carry the absolute error); for
  group_limited_greedy the group score is the max logit of the group.
"""

import torch


def _kth_gap(values: torch.Tensor, k: int) -> torch.Tensor:
    """[tokens, n] -> [tokens]: gap between the k-th and (k+1)-th largest entry (inf when n == k)."""
    if values.shape[-1] <= k:
        return torch.full(values.shape[:-1], float("inf"))
    top = values.topk(k + 1, dim=-1).values
    return top[..., k - 1] - top[..., k]


def _group_then_expert_gaps(choice: torch.Tensor, group_score, n_group: int, topk_group: int, top_k: int):
    tokens, n_experts = choice.shape
    grouped = choice.view(tokens, n_group, n_experts // n_group)  # [tokens, groups, per_group]
    scores = group_score(grouped)  # [tokens, groups]
    group_gap = _kth_gap(scores, topk_group)
    kept = scores.topk(topk_group, dim=-1).indices  # [tokens, topk_group]
    allowed = torch.gather(grouped, 1, kept[..., None].expand(-1, -1, grouped.shape[-1]))
    expert_gap = _kth_gap(allowed.reshape(tokens, -1), top_k)
    return torch.minimum(group_gap, expert_gap)


def router_gaps(router, hidden: torch.Tensor) -> torch.Tensor:
    """[tokens] smallest decision gap per token for one router call (mirrors the HF router's logic)."""
    hidden = hidden.reshape(-1, router.hidden_dim).float()
    logits = hidden @ router.weight.float().T  # [tokens, n_experts]
    if hasattr(router, "e_score_correction_bias"):  # V3
        choice = logits.sigmoid() + router.e_score_correction_bias.float()
        top2_sum = lambda g: g.topk(2, dim=-1).values.sum(-1)
        return _group_then_expert_gaps(choice, top2_sum, router.num_group, router.topk_group, router.top_k)
    if router.topk_method == "group_limited_greedy":  # V2
        max_of = lambda g: g.max(dim=-1).values
        return _group_then_expert_gaps(logits, max_of, router.num_group, router.topk_group, router.top_k)
    return _kth_gap(logits, router.top_k)  # V2 greedy


class RoutingMarginRecorder:
    """Context manager: records the smallest routing gap over every router call while active."""

    def __init__(self, model):
        self.routers = [m for n, m in model.named_modules() if n.endswith("mlp.gate")]
        self.min_gap = float("inf")
        self._handles = []

    def _hook(self, module, args, output):
        gaps = router_gaps(module, args[0].detach())
        self.min_gap = min(self.min_gap, float(gaps.min()))

    def __enter__(self):
        self._handles = [r.register_forward_hook(self._hook) for r in self.routers]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
