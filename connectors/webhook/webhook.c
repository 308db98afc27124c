/* stub: not written yet */
typedef int trg_stub_connectors_webhook_webhook_c;
