"""The lab phone's summary (lab/edgelab/device.py): what the day-2 benchmark and the e2e model update report."""

from edgelab.device import summary


def test_summary_counts_failures_and_the_longest_outage():
    results = [(0.0, True), (1.0, False), (1.5, False), (2.5, False), (3.0, True), (4.0, False), (5.0, True)]
    assert summary(results) == {"requests": 7, "failed": 4, "longest_failure_run": 3, "longest_outage_s": 1.5}
    assert summary(results, since=3.0) == {"requests": 3, "failed": 1, "longest_failure_run": 1,
                                           "longest_outage_s": 0.0}
    assert summary([]) == {"requests": 0, "failed": 0, "longest_failure_run": 0, "longest_outage_s": 0.0}
