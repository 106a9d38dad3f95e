"""The audit trail: who did what to which resource, with what outcome, hash-chained and verifiable.

* :mod:`glassbox.audit.events`: ``glassbox.audit(...)`` and ``@glassbox.audited(...)``;
* :mod:`glassbox.audit.chain`: canonical records, the hash chain, signed checkpoints, the host's log file;
* :mod:`glassbox.audit.postgres`: the fleet's chain in PostgreSQL (``GLASSBOX_STATE_URL``);
* :mod:`glassbox.audit.store`: which of the two the settings choose;
* :mod:`glassbox.audit.spool`: where fail-open events wait when the log cannot take them;
* :mod:`glassbox.audit.witness`: signed checkpoints sent to Loki's audit stream, the chain's witness;
* :mod:`glassbox.audit.loki`: the chain and its checkpoints compared with the copies in Loki;
* :mod:`glassbox.cli.audit`: ``glassbox audit verify | export | fingerprint``.
"""
