"""The lab node agent: plays EC2 (instances as containers) and kubelet/controllers (Nodes, pods, Deployments)."""
