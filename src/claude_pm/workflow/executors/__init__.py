"""Where a workflow's task attempts run: the executor Protocol and its implementations.

``base`` holds the Protocol every executor satisfies and the value it returns;
``local`` runs attempts in threads of this process, ``ray`` as Ray tasks on a
cluster (Ray is imported there and only there). Import the module you need.
"""
