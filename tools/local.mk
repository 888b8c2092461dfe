## tools: build fragment, included by the top-level Makefile.am.

# cistern-run: runs a program with libcistern preloaded.  The installed
# library path and the version are filled in here rather than by configure,
# so that @libdir@ is fully expanded (configure would leave ${exec_prefix}).
bin_SCRIPTS += tools/cistern-run
CLEANFILES += tools/cistern-run
EXTRA_DIST += tools/cistern-run.in tools/demo.sh

tools/cistern-run: $(top_srcdir)/tools/cistern-run.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && rm -f $@ $@.tmp && \
	sed -e 's|@libdir[@]|$(libdir)|g' \
	    -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	    $(top_srcdir)/tools/cistern-run.in >$@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

