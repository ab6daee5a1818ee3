"""No ``torch.jit.script`` FutureWarning from PyG's import in a user's pytest run (issue 27).

``import tagnet`` filters the warning, but pytest restores the warning filters around every
test, so a suite that imports tagnet at module level and builds a model inside a test saw it
in its warnings summary. The pytest plugin adds the filter to every run. A fresh process is
needed: PyG warns once, at its first import.
"""
import pytest

pytest_plugins = ["pytester"]

USER_TEST = """
import tagnet  # at collection: tagnet's own filter is undone around each test


def test_builds_the_graph_code():
    import tagnet.graphs  # noqa: F401  (imports torch_geometric)
"""


def test_a_users_suite_shows_no_jit_script_warning(pytester):
    pytester.makepyfile(test_user=USER_TEST)
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:tagnet")
    without.assert_outcomes(passed=1)
    if "torch.jit.script` is deprecated" not in without.stdout.str():
        pytest.skip("this PyG/torch pair does not warn at import: nothing to filter")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "torch.jit.script" not in result.stdout.str() + result.stderr.str()
    assert "warning" not in result.stdout.str().splitlines()[-1]
