"""The YARA engine: compiling rule sets, the compiled-rule cache, and what makes matching fast.

Owns yara-python (``compiler``, the only module that imports ``yara``) and Hyperscan
(``prefilter``). ``sources`` reads rule files safely and keys the cache by their content;
``cache`` is the compiled-rule cache's layout on disk; ``matches`` the match results.
``syntax`` reads YARA source without compiling it, ``analysis`` judges from it which files each
rule can match, and ``routing`` splits a set into per-file-type sets; ``gating`` and
``prefilter`` build the content gates of big files (decision 0006), with ``yara_regex`` turning
YARA's regular expressions into Hyperscan's where both readings are certain. ``coldstart`` keys the
compiled-rule cache by content alone; ``prepare`` builds a new collection's routed sets for the next
scans, in a process of its own at idle priority, once the first scan has ended.

``collection`` puts the files of a user's collection in namespaces as ``yara`` users expect and
opens index files; ``loader`` compiles such a collection without the files that do not compile.

Public API: ``compiler`` (``compile_rules``, ``CompiledRules``, ``RuleSource``, ``Match``, ...),
``loader`` (``load_collection``, ``user_sources``) and ``prepare`` (``start``, and what the hidden
``signatures prepare-job`` command runs). The other modules are the engine's internals; no
other subpackage imports them.
"""

__all__ = ["compiler", "loader", "prepare"]
