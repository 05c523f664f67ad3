/* Test plugin that exports no entry symbol: not a zmqsink plugin. */
#include <zmqsink/plugin.h>

ZMQSINK_PLUGIN_EXPORT int something_else(void);
int something_else(void)
{
    return 42;
}
