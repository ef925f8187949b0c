"""Branch names for a traced block, read from its data-flow graph.

The branches of a merge (a concatenation, an addition) are the steps that feed only one of its
inputs; a branch is named after the common module path of its steps ("branch2") and summarised
by its kernels ("1×1 → 3×3", with ‖ between operations that run side by side). For a residual
addition the two inputs are the residual path and the identity or projection shortcut.
"""
from __future__ import annotations

import re

from explorer.analysis.blocks.steps import AFTER_MERGE, MAIN_PATH, MERGE, Step, token_label
from explorer.i18n import _

__all__ = ["label_branches"]


def _ancestors(steps: list[Step]) -> list[set[int]]:
    anc: list[set[int]] = []
    for s in steps:
        a: set[int] = set()
        for i in s.inputs:
            if i >= 0:
                a.add(i)
                a |= anc[i]
        anc.append(a)
    return anc


def _common_name(paths: list[str]) -> str:
    paths = [p for p in paths if p]
    if not paths:
        return ""
    parts = [p.split(".") for p in paths]
    common = []
    for comps in zip(*parts):
        if all(c == comps[0] for c in comps):
            common.append(comps[0])
        else:
            break
    if common:
        return ".".join(common)
    first = [p[0] for p in parts]
    pre = first[0]
    for f in first[1:]:
        while not f.startswith(pre):
            pre = pre[:-1]
    pre = re.sub(r"[_.][0-9]*$", "", pre)  # branch7x7_1, branch7x7_2 -> branch7x7
    return pre if len(pre) >= 3 else ""


def _summary(steps: list[Step], members: list[int], anc: list[set[int]]) -> str:
    """"1×1 → 3×3", with ‖ between operations that run side by side."""
    tokens = [i for i in members if steps[i].token]
    text = ""
    for k, i in enumerate(tokens):
        if k:
            text += " → " if tokens[k - 1] in anc[i] else " ‖ "
        text += token_label(steps[i].token)
    return text


def _where(module: str, summary: str) -> str:
    """"downsample: 1×1": the module a shortcut or residual path runs through, and its kernels."""
    return _("{module}: {summary}").format(module=module, summary=summary) if module else summary


def label_branches(steps: list[Step]) -> list[str]:
    """Name every step's branch; returns the branch labels in order of appearance."""
    anc = _ancestors(steps)
    label: dict[int, str] = {}
    last_merge = -1
    for m in steps:
        if m.kind != "merge" or len(m.input_shapes) < 2:
            continue
        last_merge = m.index
        feeds = []
        for i in m.inputs:
            feeds.append(({i} | anc[i]) - {-1} if i >= 0 else set())
        n_in = len(m.input_shapes)
        for k, own in enumerate(feeds):
            others = set().union(*(f for j, f in enumerate(feeds) if j != k))
            members = sorted(own - others)
            name = _common_name([steps[i].path for i in members])
            summary = _summary(steps, members, anc)
            if m.op == "add" and n_in == 2:
                other = feeds[1 - k] - own
                where = name if name and name not in ("conv", "residual", "shortcut") else ""
                if not members:
                    name, summary = _("identity shortcut"), _("x unchanged")
                elif "shortcut" in name or "downsample" in name or len(members) < len(other):
                    name, summary = _("projection shortcut"), _where(where, summary)
                else:
                    name, summary = _("residual path"), _where(where, summary)
            elif not members:
                name, summary = _("block input"), _("reused unchanged")
            elif not name:
                name = _("branch {n}").format(n=k + 1)
            text = _("{branch} ({summary})").format(branch=name, summary=summary) if summary \
                else name
            for i in members:
                label[i] = text
    labels: list[str] = []
    for s in steps:
        if s.index in label:
            s.branch = label[s.index]
        elif last_merge >= 0 and s.index >= last_merge:
            s.branch = _(MERGE) if s.index == last_merge else _(AFTER_MERGE)
        else:
            s.branch = _(MAIN_PATH)
        if s.branch not in labels:
            labels.append(s.branch)
    return labels

