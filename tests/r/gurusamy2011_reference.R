#!/usr/bin/env Rscript
# Reference results of the example review examples/gurusamy2011 (dat.gurusamy2011, R package metadat)
# written by R metafor, for comparison with the pipeline's pooled results once per-comparison pooling
# (config key `comparisons`) lands. Nothing here comes from the Python code.
#
# For each comparison of examples/gurusamy2011/config/config.yaml (same ids), over the trials that
# have both arms (the three-arm Dalmau 2000 gives its control arm to both tranexamic acid and EACA):
#   MH_RR, MH_OR, MH_RD   rma.mh(measure = "RR" / "OR" / "RD")   (Mantel-Haenszel, common effect)
#   Peto_OR               rma.peto()                              (Peto, common effect)
#   REML_RR, DL_RR        rma(escalc("RR", ...), method = "REML" / "DL")   (random effects, z test)
# Estimates are on the analysis scale (log RR, log OR; RD raw). metafor's defaults throughout: escalc
# add = 1/2 to = "only0" drop00 = FALSE; rma.mh/rma.peto add = c(1/2, 0), to = c("only0", "none"),
# drop00 = TRUE for the study-level outcomes behind Q and I2 (the pooled estimate uses the raw counts).
# A value metafor cannot estimate (no events in any arm) is NA; metafor's warning or error is in `note`
# (for an error k is the number of trials the comparison has). Experimental arm = ai/n1i, control arm = ci/n2i.
#
# Usage (from the repository root): Rscript tests/r/gurusamy2011_reference.R [out.csv]
# Default output: tests/data/gurusamy2011_metafor.csv. Values are format(x, digits = 17).

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
root <- if (length(file_arg)) normalizePath(file.path(dirname(sub("^--file=", "", file_arg[1])), "..", "..")) else "."
out_path <- if (length(args) >= 1) args[1] else file.path(root, "tests", "data", "gurusamy2011_metafor.csv")

# The data the example's study folders were generated from; it must equal the package's data set.
dat <- read.csv(file.path(root, "examples", "gurusamy2011", "source", "dat.gurusamy2011.csv"), stringsAsFactors = FALSE)
if (requireNamespace("metadat", quietly = TRUE)) {
  pkg <- metadat::dat.gurusamy2011
  stopifnot(identical(dat$study, pkg$study), identical(dat$treatment, pkg$treatment),
            all(dat$death == pkg$death), all(dat$n == pkg$n))
}
# printed treatment -> intervention id (examples/gurusamy2011/resources/registry/interventions.yaml)
ids <- c("Control/Placebo" = "control_placebo", "Aprotonin" = "aprotinin", "Tranexamic acid" = "tranexamic_acid",
         "EACA" = "eaca", "Antithrombin III" = "antithrombin_iii", "rFVIIa" = "rfviia",
         "Solvent detergent plasma" = "sd_plasma")
stopifnot(all(dat$treatment %in% names(ids)))
dat$intervention <- unname(ids[dat$treatment])

# id, experimental, control: as examples/gurusamy2011/config/config.yaml `comparisons`
comparisons <- data.frame(
  id = c("aprotinin_vs_control", "tranexamic_acid_vs_control", "eaca_vs_control", "antithrombin_iii_vs_control",
         "rfviia_vs_control", "sd_plasma_vs_control", "aprotinin_vs_tranexamic_acid", "tranexamic_acid_vs_eaca"),
  experimental = c("aprotinin", "tranexamic_acid", "eaca", "antithrombin_iii", "rfviia", "sd_plasma",
                   "aprotinin", "tranexamic_acid"),
  control = c(rep("control_placebo", 6), "tranexamic_acid", "eaca"),
  stringsAsFactors = FALSE)

# one row per trial with both arms: events and totals of each side, in the data set's order
pairs_of <- function(experimental, control) {
  studies <- unique(dat$study)
  rows <- lapply(studies, function(s) {
    e <- dat[dat$study == s & dat$intervention == experimental, ]
    c <- dat[dat$study == s & dat$intervention == control, ]
    if (nrow(e) == 1 && nrow(c) == 1) data.frame(study = s, ai = e$death, n1i = e$n, ci = c$death, n2i = c$n)
  })
  do.call(rbind, rows)
}

num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NA_character_ else format(x, digits = 17)

summarise <- function(fit, method, measure, scale) {
  tau2 <- if (inherits(fit, "rma.uni")) fit$tau2 else NA
  data.frame(method = method, measure = measure, scale = scale, k = fit$k,
             estimate = num(as.numeric(fit$beta)), se = num(fit$se), zval = num(fit$zval), pval = num(fit$pval),
             ci.lb = num(fit$ci.lb), ci.ub = num(fit$ci.ub), QE = num(fit$QE), QEp = num(fit$QEp),
             I2 = num(fit$I2), tau2 = num(tau2), note = "", stringsAsFactors = FALSE)
}

# metafor refuses the fit (e.g. Peto with no events in any arm): every value NA, the error in `note`
failed <- function(k, method, measure, scale, message) {
  data.frame(method = method, measure = measure, scale = scale, k = k, estimate = NA, se = NA, zval = NA, pval = NA,
             ci.lb = NA, ci.ub = NA, QE = NA, QEp = NA, I2 = NA, tau2 = NA, note = paste("error:", message),
             stringsAsFactors = FALSE)
}

fits <- list(
  list("MH_RR", "RR", "log risk ratio", function(d) rma.mh(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)),
  list("MH_OR", "OR", "log odds ratio", function(d) rma.mh(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)),
  list("MH_RD", "RD", "risk difference", function(d) rma.mh(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)),
  list("Peto_OR", "PETO", "log odds ratio", function(d) rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)),
  list("REML_RR", "RR", "log risk ratio", function(d) rma(escalc("RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d), method = "REML")),
  list("DL_RR", "RR", "log risk ratio", function(d) rma(escalc("RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d), method = "DL")))

out <- list()
for (i in seq_len(nrow(comparisons))) {
  cmp <- comparisons[i, ]
  d <- pairs_of(cmp$experimental, cmp$control)
  for (f in fits) {
    warned <- character(0)
    fit <- tryCatch(withCallingHandlers(f[[4]](d), warning = function(w) {
      warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") }),
      error = function(e) conditionMessage(e))
    row <- if (is.character(fit)) failed(nrow(d), f[[1]], f[[2]], f[[3]], fit) else summarise(fit, f[[1]], f[[2]], f[[3]])
    if (!is.character(fit) && is.na(fit$beta[1])) warned <- c("metafor returned NA for the estimate", warned)
    row$note <- paste(c(row$note[row$note != ""], unique(warned)), collapse = " | ")
    out[[length(out) + 1]] <- cbind(
      data.frame(comparison = cmp$id, experimental = cmp$experimental, control = cmp$control,
                 studies = paste(d$study, collapse = "; "), stringsAsFactors = FALSE),
      row, metafor_version = packageDescription("metafor")$Version,
      metadat_version = if (requireNamespace("metadat", quietly = TRUE)) packageDescription("metadat")$Version else NA)
  }
}
out <- do.call(rbind, out)
text_columns <- c("comparison", "experimental", "control", "studies", "method", "measure", "scale", "note",
                  "metafor_version", "metadat_version")
write.csv(out, out_path, row.names = FALSE, na = "NA", quote = which(names(out) %in% text_columns), fileEncoding = "UTF-8")
message("wrote ", out_path, " (", nrow(out), " rows; metafor ", packageDescription("metafor")$Version, ")")
