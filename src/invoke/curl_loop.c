/* stub: not written yet */
typedef int trg_stub_src_invoke_curl_loop_c;
