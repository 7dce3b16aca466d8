"""The scrolling column an area's body lives in, restyled on focus change only as far as the CSS needs.

Textual restyles a widget *and every descendant* whenever the widget gains or loses focus, in case a rule
like ``Foo:focus > Bar`` styles the children. An area's body column holds most of its widgets (~90 on
Optimize or Deploy), and it takes focus when the area opens and gives it up at the first Tab: each time
about 60 ms of restyling on this CPU, half of a first visit's budget. :class:`AreaScroll` restyles its
descendants only when some rule in the stylesheet puts ``:focus``/``:focus-within`` on an ancestor part of a
selector this widget could match; otherwise only itself (its own ``:focus`` rules still apply).
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.css.model import CombinatorType, Selector

FOCUS_STATES = {"focus", "focus-within"}
_cache: list = [None, []]   # the rules list last read (held, so its identity cannot be reused) and its compounds


def focus_ancestor_compounds(rules: list) -> list[list[Selector]]:
    """The compound selectors that carry a focus state and are not the rightmost part of their selector."""
    found: list[list[Selector]] = []
    for rule in rules:
        for selector_set in rule.selector_set:
            compounds: list[list[Selector]] = []
            for sel in selector_set.selectors:
                if compounds and sel.combinator == CombinatorType.SAME:
                    compounds[-1].append(sel)
                else:
                    compounds.append([sel])
            found.extend(c for c in compounds[:-1] if any(s.pseudo_classes & FOCUS_STATES for s in c))
    return found


class AreaScroll(VerticalScroll):
    """A ``VerticalScroll`` whose focus changes restyle its descendants only when a rule depends on it."""

    def _focus_styles_children(self) -> bool:
        rules = self.app.stylesheet.rules
        if _cache[0] is not rules:
            _cache[:] = [rules, focus_ancestor_compounds(rules)]
        compounds = _cache[1]
        # pseudo classes ignored: could this widget be the ancestor such a rule names?
        return any(all(sel._check(self) for sel in compound) for compound in compounds)

    def watch_has_focus(self, _has_focus: bool) -> None:
        if self._focus_styles_children():
            super().watch_has_focus(_has_focus)
        else:
            self.app.stylesheet.update_nodes([self], animate=True)
