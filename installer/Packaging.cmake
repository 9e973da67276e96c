# Packaging: what `cmake --install` lays out beside the programs (the built-in model, the desktop entry and
# the icon) and the Debian package CPack makes of it (`cpack -G DEB` in the build folder). The programs find
# the model at <prefix>/bin/../share/r1-workbench/models/r1-tiny, so the layout works under any prefix.
include(GNUInstallDirs)

set(R1WB_DATA_DIR "${CMAKE_INSTALL_DATADIR}/r1-workbench")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/resources/models/r1-tiny"
        DESTINATION "${R1WB_DATA_DIR}/models"
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(R1WB_GUI)
  install(FILES "${CMAKE_CURRENT_LIST_DIR}/r1-workbench.desktop" DESTINATION "${CMAKE_INSTALL_DATADIR}/applications")
  install(FILES "${CMAKE_CURRENT_LIST_DIR}/r1-workbench.svg"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps")
endif()

# `cpack` installs the programs as they are built; without this its preinstall step would first build every
# target of the project (all the test suites too). Build before packaging: `cmake --build . && cpack -G DEB`.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(CPACK_PACKAGE_NAME "r1-workbench")
set(CPACK_PACKAGE_VENDOR "R1 Workbench")
set(CPACK_PACKAGE_CONTACT "R1 Workbench maintainers <r1-workbench@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Workbench for small reasoning language models")
set(CPACK_PACKAGE_DESCRIPTION
    "Chat with small reasoning models and watch their thinking, speed and KV cache; fine-tune them with GRPO \
and inspect every rollout. Includes the r1wb command line (inference, training, an OpenAI-compatible \
server) and the built-in r1-tiny model.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Depends comes from dpkg-shlibdeps over the installed programs, so it names exactly the libraries they load.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Qt loads its SQLite driver (the run store) as a plugin at run time, which dpkg-shlibdeps cannot see.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libqt6sql6-sqlite")
# gzip keeps `cpack` quick; the model is already dense binary data that compresses little.
set(CPACK_DEBIAN_COMPRESSION_TYPE "gzip")

include(CPack)
