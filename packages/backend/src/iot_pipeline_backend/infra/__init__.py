"""The CDK app that deploys the pipeline to AWS (needs the ``cdk`` dependency group).

One Construct per concern (``storage``, ``messaging``, ``configuration``, ``functions``,
``api``, ``monitoring``), composed and wired by :class:`~.stack.IotPipelineStack`. Every
resource name is built in :mod:`.constants`. Lambda code and its dependencies are built
by :mod:`.bundling` at synth time, without Docker.
"""
