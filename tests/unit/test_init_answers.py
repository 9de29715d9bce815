"""`ngp init`'s questions without a terminal: what each prompt offers, and what --yes refuses."""

from __future__ import annotations

import pytest

from ngp import init as wizard
from ngp.errors import NgpError


def test_a_rejected_answer_is_never_offered_back_as_the_default():
    offered: list[tuple[str, str]] = []
    typed = {"AWS account": ["210987654321"], "Modules": ["network,nope", ""],
             "Admin CIDRs": ["203.0.113.0/24"]}

    def ask(question: str, default: str) -> str:
        offered.append((question, default))
        assert len(offered) < 30, f"asked again and again: {offered[-3:]}"
        answers = next((v for k, v in typed.items() if question.startswith(k)), [])
        return (answers.pop(0) if answers else "") or default  # Enter: the default

    said: list[str] = []
    answers = wizard.ask_all(wizard.Answers(suffix="dev"), set(), ask, said.append)
    modules = [default for question, default in offered if question.startswith("Modules")]
    assert modules == [wizard.DEFAULT_MODULES, wizard.DEFAULT_MODULES]
    assert any("unknown module 'nope'" in line for line in said)
    assert answers.modules == wizard.DEFAULT_MODULES  # Enter after the rejection


def test_the_account_id_has_no_placeholder_default():
    assert wizard.Answers().account_ids == ""
    with pytest.raises(NgpError) as exc:
        wizard.ask_all(wizard.Answers(suffix="dev"), set(), None, print)
    assert "--account-ids" in exc.value.line() and "\n" not in exc.value.line()
