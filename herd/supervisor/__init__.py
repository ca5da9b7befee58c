"""supervisord's XML-RPC interface: transport over a byte pipe, client, typed results, names."""
