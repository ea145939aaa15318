# Kernel settings for executing the book's notebooks (make test / make book / make notebooks set IPYTHONDIR here).
c = get_config()  # noqa: F821 (provided by IPython)

# TensorFlow writes C++ log lines (the oneDNN banner) straight to file descriptor 2. Leaving fd output
# uncaptured keeps those lines on the terminal and out of the notebooks' stored outputs and the pages.
c.IPKernelApp.capture_fd_output = False

# Figures are stored in the notebooks whatever MPLBACKEND the calling process has (pytest sets Agg).
c.IPKernelApp.matplotlib = "inline"

# The kernel talks to its client over local TCP; its warning about unencrypted transport (printed once per
# chapter) is noise on a maintainer's terminal, not a problem of the build.
c.IPKernelApp.log_level = "ERROR"
