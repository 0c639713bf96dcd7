"""Fleet reporting: what a run tells the administrators' existing pipelines, never a server of its own.

Events (one per scan start and end, detection, remediation step, update, rollback, and watch start, stop
and overflow) are records with Elastic Common Schema field names (``ecs``), sent to the sinks named by
``--events`` and ``[events] sinks`` (``sinks``: the local syslog socket, UDP or TCP syslog in RFC 5424
form, a JSON-lines file, standard output). Health goes to a node_exporter textfile directory in the
Prometheus text format (``metrics``). The pipeline, the update commands and the watch call one small
interface, ``reporter.Reporter``; a sink that is down never blocks or fails a run: its events are dropped
and counted, and the caller tells the user how many.

Others import ``reporter`` (``Reporter``, ``FleetSettings``) and ``ecs`` (the event builders).
"""

__all__ = ["ecs", "metrics", "reporter", "sinks"]
