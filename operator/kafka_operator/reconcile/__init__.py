"""Named reconcile steps that apply the model's manifests to the API server (kubernetes client)."""
