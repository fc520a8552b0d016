"""Workflows: dependency graphs of agent tasks, checked before they run and scheduled purely.

The modules, from the input to the decisions (all pure: no processes, no
database, no threads, no clock)::

    spec        the vocabulary: TaskSpec, WorkflowSpec, modes, policies, statuses, limits
    parse       parse_workflow: tool arguments or a YAML file -> WorkflowSpec, or one
                WorkflowInvalid listing every problem
    fields      reading one field's value (used by parse)
    graph       topological order and dependency cycles over task ids
    writes      ``writes`` globs: checks, normalization, the overlap rule
    plan        plan_workflow: order, levels, critical path, the mode really used
    scheduler   Scheduler: which task starts when (bound, priorities, write safety,
                holds, retries, failure policy, cancel)

Import the module you need: this package imports nothing, so the tool schema
(which reads its limits from ``spec``) stays cheap to load.
"""
