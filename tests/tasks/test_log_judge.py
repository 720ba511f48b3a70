"""The log-parsing judge: a label-free verifier that can reject, from evidence across lines."""

import pickle

from engine.jobs import Job
from engine.tasks.log_parsing import LogParsingTask


def job(text, i=0):
    return Job(job_id=str(i), task="log_parsing", text=text, dataset="sys")


def test_stateless_checks_still_apply():
    judge = LogParsingTask().new_judge()
    assert not judge.verify(job("disk full on sda"), "<*> <*>").ok
    assert not judge.verify(job("disk full on sda"), "disk empty on <*>").ok
    assert judge.verify(job("disk full on sda"), "disk full on <*>").ok   # no evidence against it


def test_a_wildcard_over_constant_text_is_over_general():
    judge = LogParsingTask().new_judge()
    for k in range(3):
        judge.observe(f"mod_jk child workerEnv in error state {k}")
    verdict = judge.verify(job("mod_jk child workerEnv in error state 7"), "mod_jk child <*> in error state <*>")
    assert not verdict.ok and "workerEnv" in verdict.reason
    assert judge.verify(job("mod_jk child workerEnv in error state 7"),
                        "mod_jk child workerEnv in error state <*>").ok


def test_a_wildcard_over_varying_text_or_a_key_value_is_not_over_general():
    judge = LogParsingTask().new_judge()
    for name in ("alice", "bob", "carol"):
        judge.observe(f"session opened for user {name} tty=pts")
    assert judge.verify(job("session opened for user dave tty=pts"), "session opened for user <*> tty=<*>").ok


def test_a_literal_that_varies_across_otherwise_equal_lines_is_under_general():
    judge = LogParsingTask().new_judge()
    for name in ("alice", "bob", "carol"):
        judge.observe(f"session closed for user {name}")
    verdict = judge.verify(job("session closed for user root"), "session closed for user root")
    assert not verdict.ok and "root" in verdict.reason
    # two values are not enough evidence (opened/closed are message text)
    judge2 = LogParsingTask().new_judge()
    judge2.observe("connection opened to server")
    assert judge2.verify(job("connection closed to server"), "connection closed to server").ok


def test_a_verified_template_contradicts_another_for_its_lines_but_not_when_its_wildcard_runs_on():
    judge = LogParsingTask().new_judge()
    assert judge.verify(job("login from 10.0.0.1"), "login from <*>").ok
    verdict = judge.verify(job("login from 10.0.0.2"), "login from 10.0.0.2")
    assert not verdict.ok and "verified template" in verdict.reason
    # the verified one-token wildcard now runs on over two tokens: it does not fit, the new one is judged alone
    run_on = judge.verify(job("login from 10.0.0.3 user=root"), "login from <*>")
    assert not run_on.ok and "tokens" in run_on.reason
    assert judge.verify(job("login from 10.0.0.3 user=root"), "login from <*> user=<*>").ok


def test_feedback_refutes_and_confirms_and_the_judge_pickles():
    judge = LogParsingTask().new_judge()
    line = job("Received block blk_1 of size 5")
    assert judge.verify(line, "Received block <*> of size <*>").ok
    judge.learn(line, "Received block <*> of size <*>", correct=False)
    assert not judge.verify(job("Received block blk_2 of size 9"), "Received block <*> of size <*>").ok
    judge.learn(line, "Received block <*> of size <*>", correct=True)
    clone = pickle.loads(pickle.dumps(judge))
    assert clone.verify(job("Received block blk_3 of size 1"), "Received block <*> of size <*>").ok


def test_the_scheduler_uses_one_judge_per_task_when_labels_do_not_grade():
    from engine.catalog import Catalog
    from engine.jobs import Job
    from engine.scheduling.scheduler import Scheduler, SchedulerConfig
    from engine.tasks.log_parsing import LogTemplateJudge

    graded = Job("j1", "log_parsing", "session 7 opened", "d", reference="session <*> opened")
    unlabelled = Job("j2", "log_parsing", "session 8 opened", "d")
    label_free = Scheduler(Catalog([]), SchedulerConfig(), feedback="verifier")
    judge = label_free.verifier(graded)
    assert isinstance(judge, LogTemplateJudge) and label_free.verifier(unlabelled) is judge
    restored = Scheduler(Catalog([]), SchedulerConfig(), feedback="verifier")
    restored.restore(label_free.snapshot())
    assert isinstance(restored.verifier(graded), LogTemplateJudge)
    with_labels = Scheduler(Catalog([]), SchedulerConfig())          # reference mode: the reference grades
    assert with_labels.verifier(graded) is None
    assert isinstance(with_labels.verifier(unlabelled), LogTemplateJudge)   # a live job without a label
