"""A Griffe extension for the API reference: gradtx's docstrings title their doctests `Example:`.

Griffe's Google-style parser knows the plural, `Examples:`, and renders it as highlighted Python
sessions; the singular would become an admonition of plain text. This reads one as the other.
"""

import re

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


class ExampleSections(griffe.Extension):
    """Rename each docstring's `Example:` section heading to `Examples:` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
