"""`--format junit`: JUnit XML for CI test reporting. One test suite per surface, one test
case per finding (failed when it fails the run), and one passing case per clean file."""

from __future__ import annotations

from itertools import groupby
from xml.etree import ElementTree as ET

from verifier.findings import Finding, Report, sort_findings


def _case(suite: ET.Element, finding: Finding, fails: bool) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{finding.surface}.{finding.kind}",
        name=f"{finding.path or '(document)'} [{finding.source}]",
    )
    text = (
        f"expected {finding.expected}; observed {finding.observed}; at {finding.pointer or '/'}"
        f"; severity {finding.severity}"
    )
    if fails:
        failure = ET.SubElement(case, "failure", message=finding.message, type=finding.kind)
        failure.text = text
    else:
        ET.SubElement(case, "system-out").text = text


def render(report: Report) -> str:
    root = ET.Element("testsuites", name=f"verify {report.command}")
    ordered = sort_findings(report.findings)
    total = failures = 0
    by_surface = {s: list(g) for s, g in groupby(ordered, key=lambda f: f.surface)}
    for surface, findings in by_surface.items():
        suite = ET.SubElement(root, "testsuite", name=surface)
        failed = [f.severity in report.fail_on for f in findings]
        for finding, fails in zip(findings, failed, strict=True):
            _case(suite, finding, fails)
        suite.set("tests", str(len(findings)))
        suite.set("failures", str(sum(failed)))
        total += len(findings)
        failures += sum(failed)
    flagged = {f.source for f in report.findings}
    clean = [s for s in report.sources if s not in flagged]
    if clean:
        suite = ET.SubElement(root, "testsuite", name="clean", tests=str(len(clean)))
        suite.set("failures", "0")
        for source in clean:
            ET.SubElement(suite, "testcase", classname="clean", name=source)
        total += len(clean)
    extra = report.to_json().get("unlocked") or []
    for surface in extra:
        suite = ET.SubElement(root, "testsuite", name=f"{surface}.lock", tests="1")
        case = ET.SubElement(suite, "testcase", classname="lock", name=f"{surface} has a lock")
        fails = report.verdict == "fail"
        suite.set("failures", "1" if fails else "0")
        if fails:
            ET.SubElement(case, "failure", message=f"no lock for {surface}", type="unlocked")
        total += 1
        failures += int(fails)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
