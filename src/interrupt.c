/* Ctrl-C during a long plan run. Python's own SIGINT handler only records the
 * signal; Python acts on it when the running C call returns, which for a big
 * model can be seconds later. While a plan runs in the main thread, this
 * handler also sets a flag that pci_run checks between steps, then passes the
 * signal on to the previous handler so Python raises KeyboardInterrupt. */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#endif
#include <signal.h>
#include <stddef.h>

#include "executor.h"

volatile int pci_sigint_flag;

#ifndef _WIN32
static struct sigaction previous;

static void on_sigint(int sig) {
    pci_sigint_flag = 1;
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
        previous.sa_handler(sig);
}

int pci_sigint_begin(void) {
    struct sigaction sa;
    pci_sigint_flag = 0;
    sa.sa_handler = on_sigint;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, &previous);
}

void pci_sigint_end(void) { sigaction(SIGINT, &previous, NULL); }
#else
int pci_sigint_begin(void) {
    pci_sigint_flag = 0;
    return -1; /* no handler: the plan runs to its end, as before */
}
void pci_sigint_end(void) {}
#endif
