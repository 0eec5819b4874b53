# Writes dat.gurusamy2011 (R package metadat) verbatim to dat.gurusamy2011.csv beside this script.
# Run from this folder: Rscript export.R   (metadat 1.2-0 wrote the shipped file; see README.md)
# Column `row` is the data set's row name (1-29), which the study folders quote
# ("dat.gurusamy2011 row 11: ..."); the other columns and the row order are the data set's own.
library(metadat)
dat <- metadat::dat.gurusamy2011
stopifnot(nrow(dat) == 29, identical(names(dat), c("study", "treatment", "death", "n")))
out <- data.frame(row = as.integer(rownames(dat)), dat)
write.csv(out, "dat.gurusamy2011.csv", row.names = FALSE, fileEncoding = "UTF-8")
message("metadat ", packageDescription("metadat")$Version, ": wrote dat.gurusamy2011.csv (", nrow(out), " rows)")
