"""``rackshop listen``: the webhook receiver, its durable queue, worker and polling safety net.

* :mod:`.server` — the WSGI app (served by waitress): verifies, queues, acknowledges;
  :func:`~rackshop.listen.server.serve` runs it with the worker until SIGTERM.
* :mod:`.queue` — the durable queue in the state store (written before the 200 is sent).
* :mod:`.worker` — takes deliveries off the queue: orders through ``sync-orders --order``'s code
  path, stock through :func:`rackshop.sync.stock.push_stock`, products through ``sync-products``.
* :mod:`.schedule` — the polling safety net (orders and stock passes on a timetable).
* :mod:`.webhooks_admin` — ``rackshop webhooks register|list|remove``.

See ``docs/listen.md`` for running it and for the guarantees.
"""
