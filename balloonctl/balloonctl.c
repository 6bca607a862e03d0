/* SPDX-License-Identifier: MIT */
/* balloonctl.c - the program's entry point; everything else is bctl_main()
 * (main.c) so the tests can run the whole command line in-process. */
#include <stdio.h>

#include "ctl.h"

int main(int argc, char **argv)
{
	return bctl_main(argc, argv, stdout, stderr);
}
